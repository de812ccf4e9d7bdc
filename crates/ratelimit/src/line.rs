//! A waiting line per (number, campaign) pair inside one process.
//!
//! Without it, every task of a worker waiting on the same pair would sleep
//! the same delay and wake together: with 256 concurrent sends on an 80/s
//! number that is about 20,000 script calls per second to hand out 80
//! tokens. In line, one task per process asks Redis at a time and the others
//! wait their turn in FIFO order (tokio's mutex is fair), so Redis sees about
//! one call per token per process.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

/// The lines of one [`Limiter`](crate::Limiter) and its clones, keyed by pair.
/// A line exists only while someone is in it, so finished campaigns leave
/// nothing behind.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    lines: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Lines {
    /// Joins the line for `key`; wait for the turn with [`Place::turn`].
    pub(crate) fn join(&self, key: String) -> Place<'_> {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let line = Arc::clone(lines.entry(key.clone()).or_default());
        Place { lines: self, key, line }
    }
}

/// A task's place in one line; leaving the last place removes the line.
#[derive(Debug)]
pub(crate) struct Place<'a> {
    lines: &'a Lines,
    key: String,
    line: Arc<tokio::sync::Mutex<()>>,
}

impl Place<'_> {
    /// Waits until every task ahead has left.
    pub(crate) async fn turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.line.lock().await
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut lines = self.lines.lines.lock().unwrap_or_else(PoisonError::into_inner);
        // Places are only created under this lock, so the count is exact:
        // the map's handle and ours mean nobody else is in line.
        if Arc::strong_count(&self.line) == 2 {
            lines.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_line_lives_while_someone_is_in_it() {
        let lines = Lines::default();
        let first = lines.join("a".into());
        let second = lines.join("a".into());
        let turn = first.turn().await;
        assert!(second.line.try_lock().is_err(), "the second waits for the first");
        drop(turn);
        drop(first);
        assert_eq!(lines.lines.lock().unwrap().len(), 1);
        drop(second);
        assert!(lines.lines.lock().unwrap().is_empty());
    }
}
