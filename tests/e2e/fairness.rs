//! Fair sharing between projects: one project's flood of slow runs holds at most its
//! share of the sandbox — another project's runs go through while the flood waits —
//! and a run that finds no slot within the queue deadline is answered 429 `busy` with
//! `Retry-After`, having run nothing.

use crate::web_flows::{CHAT_KEY, CHAT_KEY_2, openai_connection, openai_flow};
use serde_json::{Value, json};
use std::time::Duration;
use thinkfleet_tests::app::{Settings, TestApp};
use thinkfleet_tests::home::DataHome;
use thinkfleet_tests::{Mock, Recorded};

/// OpenAI's chat endpoint, holding the answers to the flooding project's key while
/// its gate is closed.
async fn openai_holding_the_flood() -> Mock {
    Mock::start_holding(
        |_| {
            (
                200,
                json!({"model": "gpt-4o-mini", "choices": [{"message": {"content": "ok"}}]}),
            )
        },
        |r: &Recorded| {
            r.path == "/v1/chat/completions"
                && r.header("authorization") == format!("Bearer {CHAT_KEY}")
        },
    )
    .await
}

/// Waits (bounded) until `what` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flooding_project_keeps_to_its_share_and_the_other_project_is_served() {
    let openai = openai_holding_the_flood().await;
    let home = DataHome::new().await;
    let (_, flooder) = home.project("flooder").await;
    let (_, neighbour) = home.project("neighbour").await;
    // 8 slots, 4 for one project at most; a wait for a slot ends after 1.5 s.
    let app = TestApp::spawn(
        &home,
        Settings::default()
            .route("api.openai.com", &openai.base)
            .sandbox_shares(8, 4, Duration::from_millis(1500)),
    )
    .await;
    let (flood_api, calm_api) = (app.client(&flooder), app.client(&neighbour));
    openai_connection(&flood_api, "gpt", CHAT_KEY).await;
    openai_connection(&calm_api, "gpt", CHAT_KEY_2).await;
    let flood_flow = openai_flow(&flood_api, "flood", "gpt", 1).await;
    let calm_flow = openai_flow(&calm_api, "calm", "gpt", 1).await;

    // Twelve slow runs: more than the whole pool.
    openai.close();
    let runs: Vec<_> = (0..12)
        .map(|_| {
            let base = app.base.clone();
            let token = flooder.clone();
            let flow = flood_flow.clone();
            tokio::spawn(async move {
                let answer = reqwest::Client::new()
                    .post(format!("{base}/api/v1/flows/{flow}/runs"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .expect("run");
                let retry_after = answer
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().expect("ascii").to_owned());
                (
                    answer.status().as_u16(),
                    retry_after,
                    answer.json::<Value>().await.expect("json"),
                )
            })
        })
        .collect();
    until("the flood holds its four slots", || openai.held() == 4).await;

    // The neighbour's runs all go through while the flood is held.
    for _ in 0..10 {
        let (status, report) = tokio::time::timeout(
            Duration::from_secs(30),
            calm_api.post(&format!("/flows/{calm_flow}/runs"), &Value::Null),
        )
        .await
        .expect("the neighbour's run was starved");
        assert_eq!(
            (status, report["status"].as_str()),
            (200, Some("succeeded")),
            "{report}"
        );
    }
    assert_eq!(openai.held(), 4, "the flood was still held meanwhile");

    // The flood's runs past its share waited out the queue deadline: busy, nothing ran.
    until("the runs past the share give up", || {
        runs.iter().filter(|r| r.is_finished()).count() == 8
    })
    .await;
    openai.open();
    let mut answers = Vec::new();
    for run in runs {
        answers.push(run.await.expect("task"));
    }
    let busy: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 429).collect();
    assert_eq!(busy.len(), 8, "{answers:?}");
    for (_, retry_after, body) in &busy {
        assert_eq!(body["code"], "busy", "{body}");
        let secs: u64 = retry_after
            .as_deref()
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!(secs >= 1, "{secs}");
    }
    let ran: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 200).collect();
    assert_eq!(ran.len(), 4, "{answers:?}");
    assert!(
        ran.iter().all(|(_, _, r)| r["status"] == "succeeded"),
        "{ran:?}"
    );
    // Only the runs that ran were recorded.
    let (_, recorded) = flood_api.get(&format!("/flows/{flood_flow}/runs")).await;
    assert_eq!(
        recorded["runs"].as_array().map(Vec::len),
        Some(4),
        "{recorded}"
    );
}
