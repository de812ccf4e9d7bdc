//! What the worker tests share: a pipeline wired as one `campaigns-worker`
//! process wires it, on its own queue namespace.
#![allow(dead_code)] // each test crate uses a part

use std::{sync::Arc, time::Duration};

use e2e::{TestApp, redis_url};
use tokio_util::sync::CancellationToken;
use workers::{
    pipeline::{Pipeline, Settings, run},
    reply::{Replier, ReplyPolicy},
    send::{RetryPolicy, Sender},
};

/// A queue and limiter key prefix no other test uses.
pub fn namespace() -> String {
    format!("test{}.", uuid::Uuid::new_v4().simple())
}

/// A pipeline on the namespace `ns` with a 200 ms tick and 50 ms reply
/// back-off, allowing private bot targets (test bots listen on loopback);
/// `configure` adjusts its settings and reply policy.
pub async fn pipeline(
    app: &TestApp,
    ns: &str,
    configure: impl FnOnce(&mut Settings, &mut ReplyPolicy),
) -> Arc<Pipeline> {
    let redis = queue::connect(&redis_url()).await.expect("Redis must run (scripts/services up)");
    let sender = Sender {
        pg: app.pg.clone(),
        cipher: app.state.cipher.clone(),
        cloud: app.state.cloud.clone(),
        limiter: ratelimit::Limiter::new(redis.clone(), ns.to_owned()),
        policy: RetryPolicy::default(),
    };
    let mut settings = Settings::new(format!("test-{}", uuid::Uuid::new_v4().simple()));
    settings.queue_prefix = ns.to_owned();
    settings.tick = Duration::from_millis(200);
    let mut reply = ReplyPolicy { base: Duration::from_millis(50), allow_private: true, ..ReplyPolicy::default() };
    configure(&mut settings, &mut reply);
    let replier = Replier::new(app.pg.clone(), app.state.cipher.clone(), reply).expect("reply client");
    Arc::new(Pipeline { settings, pg: app.pg.clone(), redis, sender, replier })
}

/// Runs `pipeline` until the returned token is cancelled.
pub fn spawn(pipeline: Arc<Pipeline>) -> CancellationToken {
    let stop = CancellationToken::new();
    tokio::spawn(run(pipeline, stop.clone()));
    stop
}
