//! `crosswalk demo` prints curl commands that return unified contacts from every CRM and
//! unified employees from every HRIS.

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_printed_curl_commands_return_unified_contacts_from_every_vendor() {
    let app = spawn_app().await;
    let printed = cli::demo::curl_commands(&app.demo);
    let urls: Vec<&str> = printed
        .lines()
        .filter(|line| line.starts_with("curl ") && line.contains("/unified/crm/contacts"))
        .filter_map(|line| line.rsplit('\'').nth(1))
        .collect();
    let n_crms = app
        .demo
        .vendors
        .iter()
        .filter(|vendor| vendor.wiring.suite.is_some())
        .count();
    assert_eq!(urls.len(), n_crms, "one command per CRM:\n{printed}");
    assert!(printed.contains(&format!("Authorization: Bearer {}", app.demo.api_key)));
    for url in urls {
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
                .all(|record| record["remote_id"].is_string()
                    && record["email_addresses"].is_array())
        );
    }
}

#[tokio::test]
async fn the_printed_curl_command_of_an_hris_returns_unified_employees() {
    let app = spawn_app().await;
    let printed = cli::demo::curl_commands(&app.demo);
    let urls: Vec<&str> = printed
        .lines()
        .filter(|line| line.starts_with("curl ") && line.contains("/unified/hris/employees"))
        .filter_map(|line| line.rsplit('\'').nth(1))
        .collect();
    // One command per HRIS vendor of the demo (BambooHR, HiBob, …).
    let hris = app
        .demo
        .vendors
        .iter()
        .filter(|vendor| vendor.wiring.suite.is_none())
        .count();
    assert!(hris >= 3, "BambooHR, HiBob and Personio at least");
    assert_eq!(urls.len(), hris, "one command per HRIS vendor:\n{printed}");
    for url in urls {
        let body: serde_json::Value = app
            .client
            .get(url)
            .bearer_auth(&app.demo.api_key)
            .send()
            .await
            .expect("the API answers")
            .json()
            .await
            .expect("json");
        let results = body["results"].as_array().expect("results");
        // Every vendor answers the five asked for, one that answers every match at once
        // (HiBob's people search, Personio's one-answer read) paged by Crosswalk.
        assert_eq!(results.len(), 5, "{url}: {body}");
        assert!(
            results
                .iter()
                .all(|employee| employee["employment_status"].is_string()),
            "{url}"
        );
    }
}
