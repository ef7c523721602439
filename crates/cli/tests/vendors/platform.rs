//! What every vendor gets from its registry line alone: a demo connection whose printed curl
//! command returns unified records (contacts of a CRM, employees of an HRIS), and a place on
//! the Connect page under its category.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{Check, Vendor, check};

pub const CHECKS: &[Check] = &[
    check!(the_demo_prints_a_working_command_for_it),
    check!(the_connect_page_offers_it),
];

async fn the_demo_prints_a_working_command_for_it(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let printed = cli::demo::curl_commands(&app.demo);
    let connection = app.connection(provider);
    let url = printed
        .lines()
        .filter(|line| line.starts_with("curl ") && line.contains(&connection))
        .find_map(|line| line.rsplit('\'').nth(1))
        .unwrap_or_else(|| panic!("{provider}: no command for its connection:\n{printed}"));
    assert!(printed.contains(&format!("# {provider}:")), "{printed}");
    let response = app
        .client
        .get(url)
        .bearer_auth(&app.demo.api_key)
        .send()
        .await
        .expect("the API answers");
    assert_eq!(response.status(), 200, "{url}");
    let body: serde_json::Value = response.json().await.expect("json");
    let results = body["results"].as_array().expect("results");
    assert_eq!(results.len(), 5, "{url}: {body}");
    assert!(
        results
            .iter()
            .all(|record| record["remote_id"].is_string() && record["email_addresses"].is_array()),
        "{body}"
    );
}

async fn the_connect_page_offers_it(vendor: Vendor) {
    let app = vendor.spawn().await;
    let provider = vendor.id();
    let redirect = "http://127.0.0.1:9/done";
    let (status, body) = app
        .call(
            Method::PUT,
            "/environment/branding",
            Some(json!({"display_name": "Acme Sync", "allowed_redirect_urls": [redirect]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, session) = app
        .call(
            Method::POST,
            "/connect/sessions",
            Some(json!({"end_user_id": "user-1", "redirect_url": redirect})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let link = session["url"].as_str().expect("a url");
    let page = app.client.get(link).send().await.expect("the page answers");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains(&format!("data-provider=\"{provider}\"")),
        "{provider} is offered: {html}"
    );
    // Under its category's heading: inside that category's section, not another's.
    let connector = app
        .demo
        .state
        .connectors
        .get(provider)
        .expect("its connector");
    let category = connector.file().meta.categories[0].clone();
    let group = html
        .find(&format!(
            "<section class=\"category\" data-category=\"{category}\">"
        ))
        .unwrap_or_else(|| panic!("{provider}: a `{category}` group: {html}"));
    let group_end = html[group + 1..]
        .find("<section class=\"category\"")
        .map_or(html.len(), |at| group + 1 + at);
    assert!(
        html[group..group_end].contains(&format!("data-provider=\"{provider}\"")),
        "{provider} is offered under `{category}`: {html}"
    );
    // Each field the page asks for comes with the connector's help text, if it has one.
    for field in &connector.file().connection_fields {
        if !html.contains(&format!("name=\"{}\"", field.name)) {
            continue;
        }
        if let Some(help) = &field.description {
            let shown = help
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&#39;");
            assert!(
                html.contains(&format!("class=\"help\" id=\"help-{provider}-"))
                    && html.contains(&shown),
                "{provider}: the help of `{}` is shown: {html}",
                field.name
            );
        }
    }
}
