//! The Redis epoch the scheduler last saw (`redis_epoch`): when Redis holds
//! another one (or none), Redis lost its data.

use sqlx::PgExecutor;

pub async fn get(db: impl PgExecutor<'_>) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select epoch from redis_epoch").fetch_optional(db).await
}

pub async fn set(db: impl PgExecutor<'_>, epoch: &str) -> sqlx::Result<()> {
    sqlx::query!(
        r#"insert into redis_epoch (singleton, epoch) values (true, $1)
           on conflict (singleton) do update set epoch = excluded.epoch, seen_at = now()"#,
        epoch
    )
    .execute(db)
    .await?;
    Ok(())
}
