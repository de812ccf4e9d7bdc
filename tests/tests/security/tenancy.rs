//! Another organization's key on the first one's real resource ids.

use sqlx::PgPool;

use crate::world::{Key, World};

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn another_organizations_key_on_every_operation_with_an_id_finds_nothing_and_changes_nothing(pg: PgPool) {
    let w = World::build(pg).await;
    let before = w.snapshot().await;
    let dead_before = dead_counts(&w).await;
    // What the first organization's resources would show if they leaked.
    let ids = &w.ids;
    let markers = [
        "+34612000001".to_owned(),
        "Ana".to_owned(),
        "Spring".to_owned(),
        "Support bot".to_owned(),
        e2e::sim::PHONE_NUMBER_ID.to_owned(),
        ids.dead_reply.clone(),
        "kept for the suite".to_owned(),
    ];
    let mut checked = 0;
    for op in w.doc.ops() {
        if !op.secured() || !op.path.contains("{id}") {
            continue;
        }
        checked += 1;
        let call = w.call(&op);
        let (status, body) = w.send(&op, Key::Bearer(&w.other_key), &call).await;
        assert_eq!(status, 404, "{} as another organization: {body}", op.key());
        let text = body.to_string();
        for marker in &markers {
            assert!(!text.contains(marker.as_str()), "{} leaks {marker:?}: {text}", op.key());
        }
    }
    assert!(checked >= 30, "only {checked} operations with an id: is the document complete?");
    assert_eq!(w.snapshot().await, before, "nothing of the first organization changed");
    assert_eq!(dead_counts(&w).await, dead_before, "nor its dead letters");
}

/// The first organization's dead letters per queue.
async fn dead_counts(w: &World) -> serde_json::Value {
    let (status, counts) = w.app.get("/v1/dead-letters").await;
    assert_eq!(status, e2e::StatusCode::OK, "{counts}");
    counts
}
