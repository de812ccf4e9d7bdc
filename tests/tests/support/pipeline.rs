//! The whole worker pipeline (every queue, the scheduler tick) in-process
//! for a test app, on queues of its own in the shared Redis. Included with
//! `#[path]` by the test binaries that need it.

use std::{sync::Arc, time::Duration};

use e2e::TestApp;
use tokio_util::sync::CancellationToken;
use workers::{
    pipeline::{Pipeline, Settings, run},
    reply::{Replier, ReplyPolicy},
    send::{RetryPolicy, Sender},
};

/// Runs the pipeline until the returned token is cancelled; bots may listen on loopback.
pub async fn pipeline(app: &TestApp) -> CancellationToken {
    pipeline_with(app, |_| {}).await
}

/// [`pipeline`] with its settings changed by `change` (e.g. a compressed messaging-limit window).
#[allow(dead_code)] // not every test binary that includes this file changes them
pub async fn pipeline_with(app: &TestApp, change: impl FnOnce(&mut Settings)) -> CancellationToken {
    let ns = format!("test{}.", uuid::Uuid::new_v4().simple());
    let redis = queue::connect(&e2e::redis_url()).await.expect("Redis must run (scripts/services up)");
    let mut settings = Settings::new(format!("test-{}", uuid::Uuid::new_v4().simple()));
    settings.queue_prefix = ns.clone();
    settings.tick = Duration::from_millis(200);
    change(&mut settings);
    let sender = Sender {
        pg: app.pg.clone(),
        cipher: app.state.cipher.clone(),
        cloud: app.state.cloud.clone(),
        limiter: ratelimit::Limiter::new(redis.clone(), ns.clone()),
        policy: RetryPolicy {
            limit_hold: RetryPolicy::limit_hold_for(settings.messaging_window),
            ..RetryPolicy::default()
        },
    };
    let policy = ReplyPolicy { base: Duration::from_millis(50), allow_private: true, ..ReplyPolicy::default() };
    let replier = Replier::new(app.pg.clone(), app.state.cipher.clone(), policy).expect("reply client");
    let stop = CancellationToken::new();
    tokio::spawn(run(Arc::new(Pipeline { settings, pg: app.pg.clone(), redis, sender, replier }), stop.clone()));
    stop
}
