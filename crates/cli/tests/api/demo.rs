//! `crosswalk demo` prints curl commands that return unified contacts from both vendors.

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
    assert_eq!(
        urls.len(),
        app.demo.vendors.len(),
        "one command per vendor:\n{printed}"
    );
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
