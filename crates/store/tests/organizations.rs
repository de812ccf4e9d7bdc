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
        time_zone: None,
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

#[sqlx::test(migrator = "store::MIGRATOR")]
async fn number_credentials_decrypt_only_for_their_organization(pg: PgPool) {
    use store::{crypto::Cipher, numbers};
    let cipher = Cipher::from_base64(&Cipher::generate_key()).unwrap();
    let a = OrgId(orgs::create(&pg, "A").await.unwrap().id);
    let b = OrgId(orgs::create(&pg, "B").await.unwrap().id);
    let meta = numbers::MetaNumber {
        display_number: "+34910000001".into(),
        verified_name: Some("Acme".into()),
        quality_rating: Some("GREEN".into()),
        messaging_tier: Some("TIER_10K".into()),
        throughput_per_sec: 80,
        portfolio_id: "3003".into(),
    };
    let new = numbers::NewNumber {
        phone_number_id: "1001",
        waba_id: "2002",
        access_token: "EAAG-token",
        app_secret: "app-secret",
        meta: &meta,
    };
    assert!(!format!("{new:?}").contains("EAAG"), "Debug must not show secrets");
    let number = numbers::create(&pg, &cipher, a, &new).await.unwrap();
    let creds = numbers::credentials(&pg, &cipher, a, number.id).await.unwrap().unwrap();
    assert_eq!((creds.access_token.as_str(), creds.app_secret.as_str()), ("EAAG-token", "app-secret"));
    assert!(numbers::credentials(&pg, &cipher, b, number.id).await.unwrap().is_none());

    // A ciphertext copied into another organization's row does not decrypt there.
    let other = numbers::create(&pg, &cipher, b, &numbers::NewNumber { phone_number_id: "1002", ..new }).await.unwrap();
    sqlx::query("update wa_numbers set access_token_enc = (select access_token_enc from wa_numbers where id = $1) where id = $2")
        .bind(number.id)
        .bind(other.id)
        .execute(&pg)
        .await
        .unwrap();
    assert!(numbers::credentials(&pg, &cipher, b, other.id).await.is_err());
}
