//! Logging setup: human-readable lines by default, JSON lines with `--log-json` (for log
//! shippers). Level from `RUST_LOG` (default `info`). At info, ofdd logs one line per connection
//! outcome and never one per healthy document.

use tracing_subscriber::EnvFilter;

pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // try_init: a second daemon in the same process (tests) keeps the first subscriber.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
