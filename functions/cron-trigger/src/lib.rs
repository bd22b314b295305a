//! The cron-trigger function's own code: the launcher that starts a run with an asynchronous
//! invoke of the ingest function (Lambda queues the event and retries it).

pub mod launcher;

pub use launcher::LambdaLauncher;
