#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns
//! Store-level behaviour that the API cannot show directly.

use domain::{Phone, TagList, ValuedTags};
use sqlx::PgPool;
use store::{OrgId, contacts, orgs};

fn contact(phone: &str) -> contacts::ContactUpsert {
    contacts::ContactUpsert {
        phone: Phone::parse(phone).unwrap(),
        wa_id: None,
        name: None,
        tags: TagList::parse(["vip"]).unwrap(),
        valued_tags: ValuedTags::default(),
    }
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn deleting_an_organization_deletes_its_contacts_only(pg: PgPool) {
    let a = orgs::create(&pg, "A").await.unwrap();
    let b = orgs::create(&pg, "B").await.unwrap();
    let mut conn = pg.acquire().await.unwrap();
    for org in [a.id, b.id] {
        let counts =
            contacts::upsert_all(&mut conn, OrgId(org), [contact("+34612345678"), contact("+34612345679")], 10)
                .await
                .unwrap();
        assert_eq!(counts.created, 2);
    }
    sqlx::query("delete from organizations where id = $1").bind(a.id).execute(&pg).await.unwrap();
    let left: Vec<i64> = sqlx::query_scalar("select org_id from contacts").fetch_all(&pg).await.unwrap();
    assert_eq!(left, vec![b.id, b.id]);
}

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn upsert_all_splits_batches_at_the_size_limit_and_at_repeats(pg: PgPool) {
    let org = orgs::create(&pg, "A").await.unwrap();
    let mut conn = pg.acquire().await.unwrap();
    let phones = ["+34612345670", "+34612345671", "+34612345672", "+34612345671", "+34612345673"];
    let counts = contacts::upsert_all(&mut conn, OrgId(org.id), phones.map(contact), 2).await.unwrap();
    assert_eq!((counts.created, counts.updated), (4, 1));
}
