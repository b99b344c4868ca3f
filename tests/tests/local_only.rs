//! The local-only routes: the reference page, the OpenAPI document and `POST /local/token`.

use credits_e2e::Stack;
use serde_json::{Value, json};

#[tokio::test]
async fn the_page_is_served_with_its_controls() {
    let stack = Stack::start("local-page").await;
    let page = stack.get("/", None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    for needle in [
        r#"<label for="user-id">User id</label>"#,
        ">Sign in</button>",
        ">Balance</h2>",
        ">Use 1 credit</button>",
        "<dialog",
        ">Not enough credits</h2>",
        "crypto.randomUUID",
        r#"name="viewport""#,
    ] {
        assert!(page.text.contains(needle), "the page lacks {needle}");
    }
}

#[tokio::test]
async fn the_openapi_document_is_the_committed_one() {
    let stack = Stack::start("local-openapi").await;
    let doc = stack.get("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.headers["content-type"], "application/json");
    let committed: Value = serde_json::from_str(credits_ops::openapi::COMMITTED).unwrap();
    assert_eq!(doc.json, committed);
    assert_eq!(doc.json["openapi"], "3.1.0");
}

#[tokio::test]
async fn a_local_token_is_accepted_by_the_authorizer_for_that_user() {
    let stack = Stack::start("local-token").await;
    let issued = stack
        .send(
            "POST",
            "/local/token",
            &[("content-type", "application/json")],
            r#"{"user_id": "page-user"}"#,
        )
        .await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    assert_eq!(issued.json["user_id"], "page-user");
    let token = issued.json["token"].as_str().unwrap();
    let balance = stack.get("/credits/balance", Some(token)).await;
    assert_eq!(balance.status, 200);
    assert_eq!(balance.json["user_id"], "page-user");
}

#[tokio::test]
async fn a_token_request_without_a_valid_user_id_is_400() {
    let stack = Stack::start("local-token-bad").await;
    for body in [
        "",
        "{}",
        r#"{"user_id": ""}"#,
        r#"{"user_id": "two words"}"#,
        r#"{"user_id": "a", "admin": true}"#,
        r#"["a"]"#,
    ] {
        let r = stack.send("POST", "/local/token", &[], body).await;
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.json["error"]["code"], json!("invalid_request"), "{body}");
    }
    // Other methods on the local paths are not routes.
    assert_eq!(stack.get("/local/token", None).await.status, 404);
}
