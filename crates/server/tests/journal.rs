//! The journal seen from clients: resumes beyond the ring, retention with
//! compaction behind a snapshot, and what `/health` says.

mod common;

use common::{DaemonOpts, EventStream, agent_text};
use reqwest::StatusCode;
use serde_json::json;
use switchyard_core::{SessionView, reduce};

async fn bounded(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(std::time::Duration::from_secs(240), test)
        .await
        .expect("the test did not finish in 240 s");
}

#[tokio::test]
async fn resume_beyond_the_ring_and_retention_with_compaction() {
    bounded(resume_beyond_the_ring_and_retention_with_compaction_body()).await;
}

async fn resume_beyond_the_ring_and_retention_with_compaction_body() {
    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let mut opts = DaemonOpts::new(&dir.path().join("data"), ws.path());
    opts.extra = ["--ring-size", "16", "--retain-events", "200"]
        .map(String::from)
        .to_vec();
    let mut d = opts.start().await;
    let (sid, cid) = d.create_session("demo", ws.path()).await;
    let mut live = d.events(&sid, &cid, None).await;
    let (status, _) = d.prompt(&sid, &cid, "/flood 1000").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    live.until_kind("turn_complete").await;
    let last = live.view().last_event_id;
    assert!(last > 1000);

    // 100 back: far beyond the 16-frame ring, inside the 200 retained.
    let mut r = d.events(&sid, &cid, Some(last - 100)).await;
    let done = r.until_kind("replay_complete").await;
    assert_eq!(done.data["replayedCount"], json!(100));
    let ids: Vec<u64> = r.received.iter().filter_map(|f| f.id).collect();
    assert_eq!(ids, (last - 99..=last).collect::<Vec<_>>());
    for (f, raw) in r.received.iter().zip(&r.raw) {
        if let Some(id) = f.id {
            let i = live.received.iter().position(|g| g.id == Some(id)).unwrap();
            assert_eq!(&live.raw[i], raw, "frame {id} replayed byte for byte");
        }
    }

    // Compaction runs on its own thread: wait (bounded) until it has.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, health) = d.get("/health", None).await;
        if health["journal"]["compactions"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no compaction: {health}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Older than retention: told so, and reseeded with a snapshot that
    // matches what the live client built.
    let mut old = d.events(&sid, &cid, Some(5)).await;
    let resync = old.next().await.unwrap();
    assert_eq!(resync.kind, "state_resync_required");
    assert_eq!(resync.data["lastDeliveredId"], json!(5));
    let snap = old.next().await.unwrap();
    assert_eq!(snap.kind, "session_snapshot");
    let mut healed = SessionView::new();
    reduce(&mut healed, &snap);
    assert_eq!(healed.last_event_id, last);
    assert_eq!(agent_text(&healed), agent_text(&live.view()));

    let (_, health) = d.get("/health", None).await;
    assert_eq!(health["status"], json!("ok"));
    assert!(
        health["journal"]["compactions"].as_u64().unwrap() >= 1,
        "{health}"
    );

    // After a restart the compacted session is rebuilt from its snapshot
    // plus the retained events: same transcript, ids continue.
    let status = d.terminate().await;
    assert!(status.success());
    let d2 = opts.start().await;
    let (_, summary) = d2.get(&format!("/session/{sid}"), None).await;
    assert!(summary["lastEventId"].as_u64().unwrap() > last, "{summary}");
    let mut s: EventStream = d2.events(&sid, &cid, None).await;
    let snap = s.until_kind("session_snapshot").await;
    let mut view = SessionView::new();
    reduce(&mut view, &snap);
    assert_eq!(agent_text(&view), agent_text(&live.view()));
    // And a resume inside retention still replays from the journal.
    let mut r = d2.events(&sid, &cid, Some(last - 50)).await;
    r.until_kind("replay_complete").await;
    let ids: Vec<u64> = r.received.iter().filter_map(|f| f.id).collect();
    assert_eq!(ids.first(), Some(&(last - 49)));
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
}

#[tokio::test]
async fn without_a_journal_nothing_is_written_and_health_says_so() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let ws = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut opts = DaemonOpts::new(&data, ws.path());
        opts.extra = vec!["--no-journal".into()];
        let d = opts.start().await;
        let (sid, cid) = d.create_session("demo", ws.path()).await;
        d.prompt(&sid, &cid, "/echo hi").await;
        let (_, health) = d.get("/health", None).await;
        assert_eq!(health["journal"], json!({ "enabled": false }));
        assert!(!data.join("journal.sqlite3").exists());
    })
    .await;
}

#[tokio::test]
async fn a_lost_settings_file_comes_back_from_the_journal() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let ws = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let file = data.join("workspace-defaults.json");
        let text = format!(
            "{{\"{}\":{{\"approvalMode\":\"plan\"}}}}",
            ws.path().display()
        );
        std::fs::write(&file, &text).unwrap();
        let opts = DaemonOpts::new(&data, ws.path());
        let mut d = opts.start().await;
        assert!(d.terminate().await.success());
        std::fs::remove_file(&file).unwrap();
        let _d = opts.start().await;
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    })
    .await;
}
