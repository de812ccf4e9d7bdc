//! Planning a launched campaign's recipient ledger (ARCHITECTURE "The
//! recipient ledger"): one set-based statement resolves the audience with
//! `campaign_audience` (the forecast's rules), takes the engagement of every
//! contact it will send to, freezes what each one's template parameters are
//! made of, and records every other contact as excluded with its reason.

use sqlx::PgConnection;

/// The ledger after planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerCounts {
    pub planned: i64,
    pub excluded: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanOutcome {
    /// Planned now.
    Planned(LedgerCounts),
    /// Planned before (a repeated launch job): nothing was changed.
    AlreadyPlanned(LedgerCounts),
    /// The campaign is not active (finished before its launch job ran, or deleted).
    NotActive,
    /// Another launch job is planning it right now.
    InProgress,
}

/// Plans the ledger of an Active campaign, once. Runs in the caller's
/// transaction, which should commit right after.
pub async fn plan(tx: &mut PgConnection, campaign_id: i64) -> sqlx::Result<PlanOutcome> {
    // `skip locked`: a duplicated launch job returns at once instead of
    // holding a connection while another plans (a locked row reads as none).
    let Some(campaign) = sqlx::query!(
        "select org_id, lifecycle, planned_at from campaigns where id = $1 for update skip locked",
        campaign_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        let exists =
            sqlx::query_scalar!(r#"select exists (select 1 from campaigns where id = $1) as "e!""#, campaign_id)
                .fetch_one(&mut *tx)
                .await?;
        return Ok(if exists { PlanOutcome::InProgress } else { PlanOutcome::NotActive });
    };
    if campaign.lifecycle != "active" {
        return Ok(PlanOutcome::NotActive);
    }
    if campaign.planned_at.is_some() {
        return Ok(PlanOutcome::AlreadyPlanned(counts(tx, campaign_id).await?));
    }
    // A million-row join and sort fit in memory with this; the default 4 MB spills to disk.
    sqlx::query!("set local work_mem = '64MB'").execute(&mut *tx).await?;
    // Contacts that would be sent to take their engagement; one engaged by a
    // campaign planned at the same moment loses the race (ON CONFLICT) and is
    // excluded as already engaged; a "Retry failed" campaign takes over the
    // engagement its retried campaign holds. An open inbox case is checked again when
    // sending (it may close by then), so those contacts are planned too.
    // `params` freezes what the bindings read from the contact (its name and
    // valued tags): with the bindings, which cannot change once the campaign
    // is active, they give exactly the parameters to send, whatever happens
    // to the contact later. (Rendering them here, per binding, cost a third
    // of the planning time.)
    sqlx::query!(
        r#"with audience as materialized (select * from campaign_audience($1)),
           engaged as (
               insert into engagements (contact_id, campaign_id, org_id, phone)
               select contact_id, $1, $2, phone from audience
               where reason_code is null or reason_code = 'open_inbox_case'
               on conflict (org_id, phone) do update
                   set campaign_id = excluded.campaign_id, contact_id = excluded.contact_id
                   where engagements.campaign_id = (select retry_of from campaigns where id = $1)
               returning contact_id
           )
           insert into recipients (campaign_id, contact_id, org_id, phone, state, reason_code, reason_key,
                                   engaged_campaign_id, params)
           select $1, a.contact_id, $2, a.phone,
                  case when g.contact_id is not null then 'planned' else 'excluded' end,
                  case when g.contact_id is not null then null
                       when a.reason_code is null or a.reason_code = 'open_inbox_case' then 'already_engaged'
                       else a.reason_code end,
                  case when g.contact_id is null then a.reason_key end,
                  case when g.contact_id is null then a.engaged_campaign_id end,
                  case when g.contact_id is not null then
                      jsonb_build_object('name', a.name, 'valued_tags', a.valued_tags)
                  end
           from audience a
           left join engaged g on g.contact_id = a.contact_id
           on conflict (campaign_id, contact_id) do nothing"#,
        campaign_id,
        campaign.org_id
    )
    .execute(&mut *tx)
    .await?;
    // Name the campaign that won a race for a contact (it committed after
    // this statement's snapshot, so the statement above could not see it).
    sqlx::query!(
        r#"update recipients r set engaged_campaign_id = e.campaign_id
           from engagements e
           where r.campaign_id = $1 and r.reason_code = 'already_engaged' and r.engaged_campaign_id is null
             and e.org_id = r.org_id and e.phone = r.phone"#,
        campaign_id
    )
    .execute(&mut *tx)
    .await?;
    // Quiet hours are read in each recipient's local time: the contact's own
    // zone, else its phone's country's (`phone_time_zone`). The campaign
    // keeps the distinct zones, so the fan-out knows which are open without
    // reading the ledger.
    sqlx::query!(
        r#"with zoned as (
               update recipients r
               set time_zone = coalesce((select c.time_zone from contacts c where c.id = r.contact_id),
                                        phone_time_zone(r.phone))
               where r.campaign_id = $1 and r.state = 'planned'
                 and (select delivery_rules ? 'quiet_hours' from campaigns where id = $1)
               returning r.time_zone
           )
           update campaigns set planned_at = now(), updated_at = now(),
                  recipient_zones = (select array_agg(distinct time_zone) from zoned)
           where id = $1"#,
        campaign_id
    )
    .execute(&mut *tx)
    .await?;
    Ok(PlanOutcome::Planned(counts(tx, campaign_id).await?))
}

async fn counts(tx: &mut PgConnection, campaign_id: i64) -> sqlx::Result<LedgerCounts> {
    let row = sqlx::query!(
        r#"select count(*) filter (where state <> 'excluded') as "planned!",
                  count(*) filter (where state = 'excluded') as "excluded!"
           from recipients where campaign_id = $1"#,
        campaign_id
    )
    .fetch_one(tx)
    .await?;
    Ok(LedgerCounts { planned: row.planned, excluded: row.excluded })
}
