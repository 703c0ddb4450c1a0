//! Mautic's own API tests, run against the simulator (`../shared/MAUTIC-CONTRACT.md`). Each
//! test is named after the Mautic test it reproduces and says which file; `v5` tests run under
//! the Mautic 5 profile (mautic/mautic 5.1.0), `newer` tests under the newer-major profile
//! (the newer commits MAUTIC-CONTRACT.md names). The requests are plain HTTP, as Mautic's
//! tests send them, so what is checked is the simulator's protocol, not fieldsync's connector.

use fieldsync::sim::mautic::{
    CustomField, MauticProfile, MauticSim, MauticSimOptions, UniqueOperator,
};
use reqwest::Method;
use serde_json::{Value as Json, json};

struct Api {
    sim: MauticSim,
    http: reqwest::Client,
}

impl Api {
    async fn start(profile: MauticProfile) -> Api {
        let sim = MauticSim::start(MauticSimOptions {
            profile,
            basic_auth: Some(("admin".into(), "mautic".into())),
            ..Default::default()
        })
        .await
        .unwrap();
        Api {
            sim,
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Json>) -> (u16, Json) {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.sim.url()))
            .basic_auth("admin", Some("mautic"));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Json::String(text)),
        )
    }

    async fn raw(&self, path: &str) -> String {
        self.http
            .get(format!("{}{path}", self.sim.url()))
            .basic_auth("admin", Some("mautic"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> (u16, Json) {
        self.call(Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Json) -> (u16, Json) {
        self.call(Method::POST, path, Some(body)).await
    }
    async fn patch(&self, path: &str, body: Json) -> (u16, Json) {
        self.call(Method::PATCH, path, Some(body)).await
    }
    async fn put(&self, path: &str, body: Json) -> (u16, Json) {
        self.call(Method::PUT, path, Some(body)).await
    }
}

/// The items of a PHP array in JSON: a list, or an object keyed by index.
fn items(v: &Json) -> Vec<Json> {
    match v {
        Json::Array(a) => a.clone(),
        Json::Object(m) => m.values().cloned().collect(),
        _ => Vec::new(),
    }
}

fn ids(v: &Json) -> Vec<u64> {
    items(&v["contacts"])
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect()
}

// ---- LeadBundle/Tests/Controller/Api/LeadApiControllerFunctionalTest.php (5.1.0) ----

/// `testDisabledApi`: 403 and exactly the `api_disabled` error.
#[tokio::test]
async fn v5_lead_api_test_disabled_api() {
    let api = Api::start(MauticProfile::V5).await;
    api.sim.update_quirks(|q| q.api_enabled = false);
    let (status, body) = api.get("/api/contacts").await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"errors": [{"message": "API disabled. You need to enable the API in the API settings of Mautic's Configuration.", "code": 403, "type": "api_disabled"}]})
    );
}

/// `testBatchNewEndpointDoesNotCreateDuplicates`.
#[tokio::test]
async fn v5_lead_api_test_batch_new_endpoint_does_not_create_duplicates() {
    let api = Api::start(MauticProfile::V5).await;
    let (_, a) = api
        .post(
            "/api/companies/new",
            json!({"companyname": "CompanyA corp"}),
        )
        .await;
    let (_, b) = api
        .post(
            "/api/companies/new",
            json!({"companyname": "CompanyB corp"}),
        )
        .await;
    let (company_a, company_b) = (
        a["company"]["id"].as_u64().unwrap(),
        b["company"]["id"].as_u64().unwrap(),
    );
    let payload: Vec<Json> = (1..=3)
        .map(|i| {
            json!({"email": format!("batchemail{i}@email.com"), "firstname": "BatchUpdate", "points": 4,
                   "tags": ["batchtest", "batchremovetest"], "company": company_a})
        })
        .collect();
    let (status, first) = api.post("/api/contacts/batch/new", json!(payload)).await;
    assert_eq!(status, 201);
    assert_eq!(first["statusCodes"], json!([201, 201, 201]));
    for c in items(&first["contacts"]) {
        assert_eq!(c["fields"]["all"]["points"], json!(4));
    }
    let again: Vec<Json> = (1..=3)
        .map(|i| {
            let email = if i == 1 {
                "batchemail1@email.com,".to_owned()
            } else {
                format!("batchemail{i}@email.com")
            };
            json!({"email": email, "firstname": null, "tags": ["-batchremovetest"], "owner": null, "company": company_b})
        })
        .collect();
    let (status, second) = api.post("/api/contacts/batch/new", json!(again)).await;
    assert_eq!(status, 201, "still 201");
    assert_eq!(second["statusCodes"], json!([200, 200, 200]));
    assert_eq!(ids(&first), ids(&second), "the same contacts");
    for c in items(&second["contacts"]) {
        assert_eq!(
            c["fields"]["all"]["firstname"],
            json!("BatchUpdate"),
            "kept"
        );
        assert_eq!(c["tags"], json!([{"id": 1, "tag": "batchtest"}]));
        assert_eq!(c["owner"], Json::Null);
        let company: u64 = c["fields"]["all"]["company"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            company, company_b,
            "(int) fields.all.company == companyB id"
        );
    }
}

/// `testEmptyResponseReturnsJsonObject`: exactly `{"total":"0","contacts":{}}`.
#[tokio::test]
async fn v5_lead_api_test_empty_response_returns_json_object() {
    let api = Api::start(MauticProfile::V5).await;
    let body = api
        .raw("/api/contacts?where%5B0%5D%5Bcol%5D=email&where%5B0%5D%5Bexpr%5D=eq&where%5B0%5D%5Bval%5D=unicorn")
        .await;
    assert_eq!(body, r#"{"total":"0","contacts":{}}"#);
}

/// `testBatchEditEndpoint` and `testBatchEditEndpointWithRubbishId`: PUT batch/edit answers
/// 200; an id that names no contact makes a new one (201).
#[tokio::test]
async fn v5_lead_api_test_batch_edit_endpoint_and_with_rubbish_id() {
    let api = Api::start(MauticProfile::V5).await;
    let (_, c) = api
        .post(
            "/api/contacts/new",
            json!({"email": "batchemail1@email.com"}),
        )
        .await;
    let id = c["contact"]["id"].as_u64().unwrap();
    let (status, body) = api
        .put(
            "/api/contacts/batch/edit",
            json!([{"id": id, "email": "batchemail2@email.com"}]),
        )
        .await;
    assert_eq!((status, body["statusCodes"][0].clone()), (200, json!(200)));
    let (status, body) = api
        .put(
            "/api/contacts/batch/edit",
            json!([{"id": "rubbish", "email": "batchemail3@email.com"}]),
        )
        .await;
    assert_eq!((status, body["statusCodes"][0].clone()), (200, json!(201)));
    assert_eq!(api.sim.contacts().len(), 2);
    // PATCH does not create (`CommonApiController::editEntitiesAction`).
    let (_, body) = api
        .patch(
            "/api/contacts/batch/edit",
            json!([{"id": "rubbish", "email": "batchemail4@email.com"}]),
        )
        .await;
    assert_eq!(body["statusCodes"][0], json!(404));
    assert_eq!(body["errors"][0]["type"], json!("api"));
}

/// `testSingleNewEndpointCreateAndUpdate`.
#[tokio::test]
async fn v5_lead_api_test_single_new_endpoint_create_and_update() {
    let api = Api::start(MauticProfile::V5).await;
    let (status, c) = api
        .post(
            "/api/contacts/new",
            json!({"email": "a@b.fr", "lastname": "Doe", "points": 3}),
        )
        .await;
    assert_eq!(status, 201);
    let id = c["contact"]["id"].as_u64().unwrap();
    let (status, again) = api
        .post(
            "/api/contacts/new",
            json!({"email": "a@b.fr", "lastname": ""}),
        )
        .await;
    assert_eq!((status, again["contact"]["id"].as_u64()), (200, Some(id)));
    assert_eq!(
        again["contact"]["fields"]["all"]["lastname"],
        json!("Doe"),
        "blank ignored"
    );
    let (_, blanked) = api
        .post(
            "/api/contacts/new",
            json!({"email": "a@b.fr", "lastname": "", "overwriteWithBlank": true}),
        )
        .await;
    assert_eq!(blanked["contact"]["fields"]["all"]["lastname"], Json::Null);
    let (_, list) = api.get("/api/contacts").await;
    assert!(
        list["contacts"].get(id.to_string()).is_some(),
        "keyed by id"
    );
    let (_, edited) = api
        .patch(&format!("/api/contacts/{id}/edit"), json!({"points": 1}))
        .await;
    assert_eq!(edited["contact"]["fields"]["all"]["points"], json!(1));
}

/// `testBatchNewEndpointCreateAndUpdate`: the same rules per item; a PATCH batch/edit
/// blank is "ignored because overwriteWithBlank is false by default".
#[tokio::test]
async fn v5_lead_api_test_batch_new_endpoint_create_and_update() {
    let api = Api::start(MauticProfile::V5).await;
    let (_, first) = api
        .post("/api/contacts/batch/new", json!([{"email": "a@b.fr", "firstname": "Ann"}, {"email": "c@b.fr", "firstname": "Cy"}]))
        .await;
    let (_, again) = api
        .post(
            "/api/contacts/batch/new",
            json!([{"email": "a@b.fr", "firstname": ""}]),
        )
        .await;
    assert_eq!(again["statusCodes"], json!([200]));
    assert_eq!(
        items(&again["contacts"])[0]["fields"]["all"]["firstname"],
        json!("Ann")
    );
    let id = ids(&first)[1];
    let (_, edited) = api
        .patch(
            "/api/contacts/batch/edit",
            json!([{"id": id, "firstname": ""}]),
        )
        .await;
    assert_eq!(
        items(&edited["contacts"])[0]["fields"]["all"]["firstname"],
        json!("Cy")
    );
}

/// `testSingleNewEndpointCreateAndDeleteWithDnc`: a DNC in `/new` is echoed; DELETE is 200.
#[tokio::test]
async fn v5_lead_api_test_single_new_endpoint_create_and_delete_with_dnc() {
    let api = Api::start(MauticProfile::V5).await;
    let (status, c) = api
        .post(
            "/api/contacts/new",
            json!({"email": "a@b.fr", "doNotContact": [{"channel": "email", "reason": 2}]}),
        )
        .await;
    assert_eq!(status, 201);
    let dnc = &c["contact"]["doNotContact"][0];
    assert_eq!(
        (dnc["channel"].clone(), dnc["reason"].clone()),
        (json!("email"), json!(2))
    );
    let id = c["contact"]["id"].as_u64().unwrap();
    let (status, _) = api
        .call(Method::DELETE, &format!("/api/contacts/{id}/delete"), None)
        .await;
    assert_eq!(status, 200);
    assert!(api.sim.contact(id).is_none());
}

/// `testBatchDncAddAndRemove`: reason 3 through PUT batch/edit, then reason 0 removes it.
#[tokio::test]
async fn v5_lead_api_test_batch_dnc_add_and_remove() {
    let api = Api::start(MauticProfile::V5).await;
    let (_, c) = api
        .post("/api/contacts/new", json!({"email": "a@b.fr"}))
        .await;
    let id = c["contact"]["id"].as_u64().unwrap();
    let (_, added) = api
        .put("/api/contacts/batch/edit", json!([{"id": id, "email": "a@b.fr", "doNotContact": [{"channel": "email", "reason": 3}]}]))
        .await;
    assert_eq!(
        items(&added["contacts"])[0]["doNotContact"][0]["reason"],
        json!(3)
    );
    let (_, removed) = api
        .put("/api/contacts/batch/edit", json!([{"id": id, "email": "a@b.fr", "doNotContact": [{"channel": "email", "reason": 0}]}]))
        .await;
    assert_eq!(items(&removed["contacts"])[0]["doNotContact"], json!([]));
}

/// `testAddAndRemoveDncToExistingContact`.
#[tokio::test]
async fn v5_lead_api_test_add_and_remove_dnc_to_existing_contact() {
    let api = Api::start(MauticProfile::V5).await;
    let (_, c) = api
        .post("/api/contacts/new", json!({"email": "a@b.fr"}))
        .await;
    let id = c["contact"]["id"].as_u64().unwrap();
    let (status, body) = api
        .post(
            &format!("/api/contacts/{id}/dnc/email/add"),
            json!({"reason": 0}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"][0]["details"],
        json!(["Reason code needs to be an integer and higher than 0."])
    );
    let (status, body) = api
        .post(&format!("/api/contacts/{id}/dnc/email/add"), json!({}))
        .await;
    assert_eq!(status, 200);
    let dnc = &body["contact"]["doNotContact"][0];
    assert_eq!(
        (dnc["reason"].clone(), dnc["channel"].clone()),
        (json!(3), json!("email"))
    );
    let (status, body) = api
        .post(&format!("/api/contacts/{id}/dnc/email/remove"), json!({}))
        .await;
    assert_eq!(
        (status, body["contact"]["doNotContact"].clone()),
        (200, json!([]))
    );
    assert_eq!(body["recordFound"], json!(true));
}

// ---- LeadBundle/Tests/Controller/Api/FieldApiControllerTest.php (5.1.0) ----

/// `testgetWhereFromRequest*`: a field list gets `object eq <lead|company>` added to the
/// client's `where`: asking `/fields/contact` for company fields finds none.
#[tokio::test]
async fn v5_field_api_test_get_where_from_request() {
    let api = Api::start(MauticProfile::V5).await;
    let (_, body) = api
        .get("/api/fields/contact?where[0][col]=object&where[0][expr]=eq&where[0][val]=company")
        .await;
    assert_eq!(body, json!({"total": 0, "fields": []}));
    let (_, body) = api
        .get("/api/fields/contact?where[0][col]=alias&where[0][expr]=eq&where[0][val]=email")
        .await;
    assert_eq!(body["total"], json!(1));
    assert_eq!(items(&body["fields"])[0]["object"], json!("lead"));
}

/// Fields list paging (no Mautic test; `FetchCommonApiController::getEntitiesAction`): 30 a
/// page by default, ordered by field order, `total` an integer, keyed by id.
#[tokio::test]
async fn v5_field_list_is_paged_thirty_at_a_time() {
    let api = Api::start(MauticProfile::V5).await;
    for i in 1..=12 {
        api.sim
            .add_custom_field("contact", &format!("extra_{i}"), "text");
    }
    let (_, first) = api.get("/api/fields/contact").await;
    assert_eq!(first["total"], json!(40));
    let page = items(&first["fields"]);
    assert_eq!(page.len(), 30);
    assert_eq!(page[0]["alias"], json!("title"), "core fields first");
    let (_, rest) = api.get("/api/fields/contact?start=30&limit=30").await;
    let rest = items(&rest["fields"]);
    assert_eq!(rest.len(), 10);
    assert_eq!(
        rest.last().unwrap()["alias"],
        json!("extra_12"),
        "custom fields last"
    );
    let (_, companies) = api.get("/api/fields/company?limit=0").await;
    assert_eq!(items(&companies["fields"]).len(), 15);
}

// ---- CoreBundle/Tests/Form/RequestTraitTest.php (5.1.0), through the API ----

/// `testDatTimePrepareParametersFromRequest`, `testCleanFieldsDateTime`, `testCleanFieldsDate`,
/// `testCleanFieldsWrongDateTime`, the booleans, numbers and multiselect lists, as a contact
/// write reads them. (`boolProvider`'s `T`/`F` belong to `InputHelper::boolean`, which the
/// API does not reach: it reads booleans with `FILTER_VALIDATE_BOOLEAN`.)
#[tokio::test]
async fn v5_request_trait_values_through_the_api() {
    let api = Api::start(MauticProfile::V5).await;
    for (alias, ty) in [
        ("seen", "datetime"),
        ("born", "date"),
        ("optin", "boolean"),
        ("tags_list", "multiselect"),
    ] {
        api.sim.add_custom_field("contact", alias, ty);
    }
    api.sim.add_custom_field_with(
        "contact",
        "ratio",
        "number",
        CustomField {
            scale: Some(1),
            ..CustomField::standard()
        },
    );
    let (_, c) = api
        .post("/api/contacts/new", json!({"email": "a@b.fr", "seen": "2023-01-01 21:00:00", "born": "10/10/2022", "optin": "yES", "ratio": "3.2", "tags_list": "o1|o2|o3"}))
        .await;
    let all = &c["contact"]["fields"]["all"];
    assert_eq!(
        all["seen"],
        json!("2023-01-01 21:00:00"),
        "seconds dropped ('Y-m-d H:i')"
    );
    assert_eq!(all["born"], json!("2022-10-10"));
    assert_eq!(all["optin"], json!(1));
    assert_eq!(all["ratio"], json!(3.2));
    assert_eq!(all["tags_list"], json!("o1|o2|o3"));
    let id = c["contact"]["id"].as_u64().unwrap();
    let path = format!("/api/contacts/{id}/edit");
    let edit = |v: Json| api.patch(&path, v);
    let (_, e) = edit(json!({"seen": "10/10/2022 05:10:25", "optin": "No"})).await;
    assert_eq!(
        e["contact"]["fields"]["all"]["seen"],
        json!("2022-10-10 05:10:00")
    );
    assert_eq!(e["contact"]["fields"]["all"]["optin"], json!(0));
    let (_, e) = edit(json!({"seen": "not a date", "optin": "true"})).await;
    assert_eq!(
        e["contact"]["fields"]["all"]["seen"],
        json!("2022-10-10 05:10:00"),
        "an invalid date is removed from the request"
    );
    assert_eq!(e["contact"]["fields"]["all"]["optin"], json!(1));
    let (_, e) = edit(json!({"seen": ""})).await;
    assert_eq!(
        e["contact"]["fields"]["all"]["seen"],
        json!("2022-10-10 05:10:00"),
        "'' is dropped"
    );
}

/// The newer profile keeps the seconds (API-NOTES.md).
#[tokio::test]
async fn newer_date_times_keep_their_seconds() {
    let api = Api::start(MauticProfile::Newer).await;
    api.sim.add_custom_field("contact", "seen", "datetime");
    let (_, c) = api
        .post(
            "/api/contacts/new",
            json!({"email": "a@b.fr", "seen": "2023-01-01 21:00:35"}),
        )
        .await;
    assert_eq!(
        c["contact"]["fields"]["all"]["seen"],
        json!("2023-01-01 21:00:35")
    );
}

// ---- LeadBundle/Tests/Command/DeduplicateCommandFunctionalTest.php: unique identifiers ----

/// With the phone a unique identifier too, the operator decides what is "the same" contact:
/// OR matches on either value, AND on both (`LeadBundle/Config/config.php:965-966`, OR by
/// default). Through the API: a new contact sharing only the phone updates the holder under
/// OR and is created under AND.
#[tokio::test]
async fn v5_deduplicate_unique_identifiers_combine_with_or_by_default_and_with_and() {
    for (operator, created) in [(UniqueOperator::Or, false), (UniqueOperator::And, true)] {
        let api = Api::start(MauticProfile::V5).await;
        api.sim.set_unique_identifier("contact", "phone", true);
        api.sim.set_unique_operator("contact", operator);
        api.post(
            "/api/contacts/new",
            json!({"email": "a@b.fr", "phone": "123"}),
        )
        .await;
        let (status, _) = api
            .post(
                "/api/contacts/new",
                json!({"email": "b@b.fr", "phone": "123"}),
            )
            .await;
        assert_eq!(status == 201, created, "{operator:?}");
        assert_eq!(api.sim.contacts().len(), if created { 2 } else { 1 });
    }
}

// ---- newer LeadApiControllerFunctionalTest @005396c6 ----

/// `testSingleEndpointCanHandleMergedContacts{Put,Patch,Post,PostSameEmail}`: an edit of a
/// merged-away id edits the winner; `/new` ignores an `id` (201), and with the same e-mail
/// finds the winner (200).
#[tokio::test]
async fn newer_lead_api_test_single_endpoint_can_handle_merged_contacts() {
    for profile in MauticProfile::ALL {
        let api = Api::start(profile).await;
        let winner = api.sim.add_contact(&[("email", json!("w@b.fr"))]);
        let loser = api.sim.add_contact(&[("email", json!("l@b.fr"))]);
        assert!(api.sim.merge_contacts(winner, loser));
        for method in [Method::PATCH, Method::PUT] {
            let (status, body) = api
                .call(
                    method.clone(),
                    &format!("/api/contacts/{loser}/edit"),
                    Some(json!({"email": "w@b.fr", "firstname": "W"})),
                )
                .await;
            assert_eq!(
                (status, body["contact"]["id"].as_u64()),
                (200, Some(winner)),
                "{profile:?} {method}"
            );
        }
        let (status, _) = api
            .post(
                "/api/contacts/new",
                json!({"id": loser, "email": "new@b.fr"}),
            )
            .await;
        assert_eq!(status, 201);
        let (status, body) = api
            .post("/api/contacts/new", json!({"id": loser, "email": "w@b.fr"}))
            .await;
        assert_eq!(
            (status, body["contact"]["id"].as_u64()),
            (200, Some(winner))
        );
    }
}

/// `testBatchPutEndpointCanHandleMergedContacts`: newer batches edit the winner of a
/// merged-away id (a later item for the same winner wins); Mautic 5 does not find it.
#[tokio::test]
async fn newer_lead_api_test_batch_put_endpoint_can_handle_merged_contacts() {
    for profile in MauticProfile::ALL {
        let api = Api::start(profile).await;
        let winner = api.sim.add_contact(&[("email", json!("w@b.fr"))]);
        let loser = api.sim.add_contact(&[("email", json!("l@b.fr"))]);
        assert!(api.sim.merge_contacts(winner, loser));
        let (status, body) = api
            .put(
                "/api/contacts/batch/edit",
                json!([
                {"id": loser, "email": "w@b.fr", "firstname": "First"},
                {"id": winner, "email": "w@b.fr", "firstname": "Second"}]),
            )
            .await;
        assert_eq!(status, 200);
        if profile.batch_edit_follows_merges() {
            assert_eq!(body["statusCodes"], json!([200, 200]));
            assert_eq!(ids(&body), vec![winner, winner]);
            assert_eq!(
                api.sim.contact(winner).unwrap().text("firstname"),
                Some("Second")
            );
        } else {
            // 5.x reads the batch with `id IN (...)`: the loser is not found, so PUT would
            // create a contact, which the e-mail (now the winner's) forbids.
            assert_eq!(body["statusCodes"][0], json!(422), "5.x: not found");
        }
    }
}

/// `testBatchEditEndpointSameContact`: the same id twice; both answers show the final state.
#[tokio::test]
async fn newer_lead_api_test_batch_edit_endpoint_same_contact() {
    let api = Api::start(MauticProfile::Newer).await;
    let id = api.sim.add_contact(&[("email", json!("a@b.fr"))]);
    let (_, body) = api
        .patch(
            "/api/contacts/batch/edit",
            json!([{"id": id, "firstname": "One"}, {"id": id, "lastname": "Two"}]),
        )
        .await;
    for c in items(&body["contacts"]) {
        assert_eq!(c["fields"]["all"]["firstname"], json!("One"));
        assert_eq!(c["fields"]["all"]["lastname"], json!("Two"));
    }
}

/// `testSearchContactsWithSpecialCharacters`: `where eq "O'neal"` finds the one contact.
#[tokio::test]
async fn newer_lead_api_test_search_contacts_with_special_characters() {
    let api = Api::start(MauticProfile::Newer).await;
    api.sim
        .add_contact(&[("email", json!("o@b.fr")), ("lastname", json!("O'neal"))]);
    api.sim
        .add_contact(&[("email", json!("n@b.fr")), ("lastname", json!("Neal"))]);
    let (_, body) = api
        .get("/api/contacts?where[0][col]=lastname&where[0][expr]=eq&where[0][val]=O%27neal")
        .await;
    assert_eq!(body["total"], json!("1"));
}

// ---- newer CompanyApiControllerFunctionalTest @0a79513f (company e-mail unique, AND) ----

/// `batch/new` with a known name finds the company (200, same id); with the name and another
/// e-mail under AND it is a new company. `testSingleNewEndpoint`: the same name, the same id.
/// 5.1 refuses a taken name in `batch/new` (422) instead.
#[tokio::test]
async fn newer_company_api_test_batch_new_matches_on_unique_fields() {
    let api = Api::start(MauticProfile::Newer).await;
    api.sim
        .set_unique_identifier("company", "companyemail", true);
    api.sim.set_unique_operator("company", UniqueOperator::And);
    let (_, first) = api
        .post("/api/companies/batch/new", json!([{"companyname": "Acme"}]))
        .await;
    let id = items(&first["companies"])[0]["id"].as_u64().unwrap();
    let (_, again) = api
        .post("/api/companies/batch/new", json!([{"companyname": "Acme"}]))
        .await;
    assert_eq!(again["statusCodes"][0], json!(200));
    assert_eq!(items(&again["companies"])[0]["id"].as_u64(), Some(id));
    let (_, single) = api
        .post("/api/companies/new", json!({"companyname": "Acme"}))
        .await;
    assert_eq!(single["company"]["id"].as_u64(), Some(id));

    let v5 = Api::start(MauticProfile::V5).await;
    v5.post("/api/companies/batch/new", json!([{"companyname": "Acme"}]))
        .await;
    let (_, again) = v5
        .post("/api/companies/batch/new", json!([{"companyname": "Acme"}]))
        .await;
    assert_eq!(again["statusCodes"][0], json!(422));
    assert_eq!(v5.sim.companies().len(), 1);
}

// ---- newer LeadApiZeroValueFunctionalTest @00b3ba55 ----

/// Newer: a PATCH of number 0 stores 0, a text '0' is kept, a boolean 0 stays; 5.1 drops a
/// numeric zero on POST and PATCH.
#[tokio::test]
async fn newer_lead_api_zero_value_functional_test() {
    for profile in MauticProfile::ALL {
        let api = Api::start(profile).await;
        api.sim.add_custom_field("contact", "score", "number");
        api.sim.add_custom_field("contact", "code", "text");
        api.sim.add_custom_field("contact", "optin", "boolean");
        let (_, c) = api
            .post(
                "/api/contacts/new",
                json!({"email": "a@b.fr", "score": 5, "code": "7", "optin": 1}),
            )
            .await;
        let id = c["contact"]["id"].as_u64().unwrap();
        let (_, e) = api
            .patch(
                &format!("/api/contacts/{id}/edit"),
                json!({"score": 0, "code": "0", "optin": 0}),
            )
            .await;
        let all = &e["contact"]["fields"]["all"];
        assert_eq!(all["optin"], json!(0), "{profile:?}: a boolean 0 stays");
        if profile.drops_zeros() {
            assert_eq!(
                (all["score"].clone(), all["code"].clone()),
                (json!(5), json!("7"))
            );
        } else {
            assert_eq!(
                (all["score"].clone(), all["code"].clone()),
                (json!(0), json!("0"))
            );
        }
    }
}

// ---- mautic/api-library tests/Api/CompaniesTest.php, ContactsTest.php ----

/// `CompaniesTest::testAddAndRemove`: `success` is not empty (5.1 answers 1); the contact
/// has one company.
#[tokio::test]
async fn api_library_companies_test_add_and_remove() {
    let api = Api::start(MauticProfile::V5).await;
    let contact = api.sim.add_contact(&[("email", json!("a@b.fr"))]);
    let (_, c) = api
        .post("/api/companies/new", json!({"companyname": "Acme"}))
        .await;
    let company = c["company"]["id"].as_u64().unwrap();
    let (status, body) = api
        .post(
            &format!("/api/companies/{company}/contact/{contact}/add"),
            json!({}),
        )
        .await;
    assert_eq!((status, body), (200, json!({"success": 1})));
    let (_, companies) = api.get(&format!("/api/contacts/{contact}/companies")).await;
    assert_eq!(companies["total"], json!(1));
    assert_eq!(companies["companies"][0]["is_primary"], json!("1"));
    let (_, body) = api
        .post(
            &format!("/api/companies/{company}/contact/{contact}/remove"),
            json!({}),
        )
        .await;
    assert_eq!(body, json!({"success": 1}));
    let (_, companies) = api.get(&format!("/api/contacts/{contact}/companies")).await;
    assert_eq!(companies["total"], json!(0));
}

/// `ContactsTest`: `search=ids:1,2,3`; the same e-mail twice is the same contact; an edit
/// of a missing contact is an error.
#[tokio::test]
async fn api_library_contacts_test() {
    let api = Api::start(MauticProfile::V5).await;
    for i in 1..=4 {
        api.sim
            .add_contact(&[("email", json!(format!("c{i}@b.fr")))]);
    }
    let (_, body) = api.get("/api/contacts?search=ids:1,2,3").await;
    assert_eq!(body["total"], json!("3"));
    let (_, a) = api
        .post("/api/contacts/new", json!({"email": "same@b.fr"}))
        .await;
    let (_, b) = api
        .post("/api/contacts/new", json!({"email": "same@b.fr"}))
        .await;
    assert_eq!(a["contact"]["id"], b["contact"]["id"]);
    let (status, body) = api
        .patch("/api/contacts/10000/edit", json!({"firstname": "x"}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0]["message"], json!("Item was not found."));
}
