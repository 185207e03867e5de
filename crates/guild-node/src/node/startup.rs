//! A node while it starts: how far the load of its store has got, shared between the thread
//! that loads it and the control socket, which answers from the first moment (see
//! [`crate::control::Gate`]).

use guild_core::control::Event;
use guild_service::LoadStep;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;

/// How far a node's start has got. Cheap to clone; clones share it.
#[derive(Debug, Clone, Default)]
pub struct LoadProgress(Arc<Mutex<Stage>>);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Stage {
    /// The load has not begun.
    #[default]
    Starting,
    /// The service is loading the store.
    Loading(LoadStep),
    /// The store is loaded; the network starts.
    Loaded { records: u64 },
}

impl LoadProgress {
    /// The service reports a step of its load.
    pub fn set(&self, step: LoadStep) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Stage::Loading(step);
    }

    /// The store is loaded.
    pub fn loaded(&self) {
        let mut stage = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let records = match *stage {
            Stage::Loading(s) => s.records,
            Stage::Loaded { records } => records,
            Stage::Starting => 0,
        };
        *stage = Stage::Loaded { records };
    }

    /// Records read so far, and whether the load is over.
    pub fn records(&self) -> (u64, bool) {
        match *self.0.lock().unwrap_or_else(PoisonError::into_inner) {
            Stage::Starting => (0, false),
            Stage::Loading(s) => (s.records, false),
            Stage::Loaded { records } => (records, true),
        }
    }

    /// One sentence for a user: what the daemon is doing.
    pub fn describe(&self) -> String {
        let stage = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match stage {
            Stage::Starting => "the daemon is starting; retry shortly".into(),
            Stage::Loading(s) => format!(
                "the daemon is loading its store ({}: {} records read so far); retry shortly",
                s.phase, s.records
            ),
            Stage::Loaded { records } => format!(
                "the daemon has loaded its store ({records} records) and is starting its network; retry shortly"
            ),
        }
    }
}

/// What a daemon hands [`crate::node::Node::start_with`] so its control socket can answer
/// while the node starts: where the load reports its progress, and the node's event channel
/// (subscribers that come early get every event from the start).
#[derive(Debug, Clone)]
pub struct Startup {
    /// Where the load reports how far it has got.
    pub progress: LoadProgress,
    /// The node's events.
    pub events: broadcast::Sender<Event>,
}

impl Default for Startup {
    fn default() -> Startup {
        Startup {
            progress: LoadProgress::default(),
            events: broadcast::channel(super::EVENT_BUFFER).0,
        }
    }
}
