//! Authentication and scopes on every secured operation of the document.

use sqlx::PgPool;

use crate::world::{Key, World};

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn every_secured_operation_refuses_bad_keys_and_admin_ones_refuse_a_key_without_the_scope(pg: PgPool) {
    let w = World::build(pg).await;
    let before = w.snapshot().await;
    let (mut secured, mut admin) = (0, 0);
    for op in w.doc.ops() {
        let call = w.call(&op);
        if !op.secured() {
            continue;
        }
        secured += 1;
        for (key, expected) in [
            (Key::None, "missing_api_key"),
            (Key::Header("Basic YWRtaW46YWRtaW4="), "malformed_authorization"),
            (Key::Header("Bearer"), "malformed_authorization"),
            (Key::Bearer("wce_0000000000000000000000000000"), "invalid_api_key"),
            (Key::Bearer("not-even-our-format"), "invalid_api_key"),
            (Key::Bearer(&w.revoked_key), "revoked_api_key"),
        ] {
            let (status, body) = w.send(&op, key, &call).await;
            assert_eq!((status, e2e::code(&body)), (401, expected), "{} with {key:?}", op.key());
        }
        if op.admin() {
            admin += 1;
            let (status, body) = w.send(&op, Key::Bearer(&w.reader_key), &call).await;
            assert_eq!((status, e2e::code(&body)), (403, "missing_scope"), "{} without the admin scope", op.key());
        }
    }
    assert!(secured >= 50 && admin >= 10, "{secured} secured and {admin} admin operations: is the document complete?");
    assert_eq!(w.snapshot().await, before, "refused requests changed nothing");
}
