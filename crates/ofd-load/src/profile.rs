//! Link profiles: how a simulated register's connection behaves.
//!
//! Registers reach an OFD over very different links, and each stresses a different part of the
//! daemon: `wired` (Ethernet, whole messages on a persistent connection) measures raw ingest,
//! `sim` (a GSM modem: latency, jitter, writes dribbled out in small segments, dropped
//! connections and resends of the unacknowledged document) exercises framing across reads,
//! reconnects and duplicate handling, `one-shot` (connect, send one document, read the
//! acknowledgement, close — what many FNs actually do) measures connection set-up, and `idle`
//! (connect, send one document, then hold the connection) measures the memory cost of a large
//! fleet that is connected but quiet.

use std::time::Duration;

/// Which link behaviour every simulated connection follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    Wired,
    Sim,
    OneShot,
    Idle,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Wired => "wired",
            Profile::Sim => "sim",
            Profile::OneShot => "one-shot",
            Profile::Idle => "idle",
        }
    }

    /// The `connection` field for the admin API's register call.
    pub fn connection_type(self) -> &'static str {
        match self {
            Profile::Sim => "sim",
            _ => "wired",
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "wired" => Ok(Profile::Wired),
            "sim" => Ok(Profile::Sim),
            "one-shot" | "oneshot" => Ok(Profile::OneShot),
            "idle" => Ok(Profile::Idle),
            other => Err(format!(
                "unknown profile {other:?} (wired, sim, one-shot, idle)"
            )),
        }
    }
}

/// Which protocol the simulated registers speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    /// FN–OFD (Russia): fiscal documents from an FN, acknowledgements.
    #[default]
    Fn,
    /// KKM–OFD 2.0.x (Kazakhstan): requests with system ID, TOKEN and REQNUM, result codes.
    Kz,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Fn => "fn",
            Protocol::Kz => "kz",
        }
    }

    /// The report's `by_type` key of type byte `t` (FN document type; KZ command label).
    pub fn type_label(self, t: usize) -> String {
        match self {
            Protocol::Fn => t.to_string(),
            Protocol::Kz => i32::try_from(t)
                .ok()
                .and_then(ofd_kz::Command::from_wire)
                .map_or_else(|| t.to_string(), |c| c.label().to_owned()),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fn" => Ok(Protocol::Fn),
            "kz" => Ok(Protocol::Kz),
            other => Err(format!("unknown protocol {other:?} (fn, kz)")),
        }
    }
}

/// Parameters of the `sim` link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimLink {
    /// Mean one-way link delay before each document is sent (think time of a modem link).
    /// Not counted in latency (closed loop); ignored with `--rate`, where the schedule decides.
    pub latency: Duration,
    /// Uniform jitter added to / subtracted from `latency`.
    pub jitter: Duration,
    /// Largest write segment; each write is 1..=this many bytes.
    pub max_segment: usize,
    /// Largest pause between two segments of one message (uniform 0..=this). Counted in latency.
    pub segment_gap: Duration,
    /// Probability that a message's connection drops partway through writing it.
    pub drop_mid_message: f64,
    /// Probability that the connection drops after the whole message was written but before the
    /// acknowledgement was read (the resend is then a duplicate for the daemon).
    pub drop_before_ack: f64,
}

impl Default for SimLink {
    fn default() -> Self {
        SimLink {
            latency: Duration::from_millis(30),
            jitter: Duration::from_millis(20),
            max_segment: 256,
            segment_gap: Duration::from_millis(1),
            drop_mid_message: 0.01,
            drop_before_ack: 0.01,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in [
            Profile::Wired,
            Profile::Sim,
            Profile::OneShot,
            Profile::Idle,
        ] {
            assert_eq!(p.as_str().parse::<Profile>(), Ok(p));
        }
        assert!("gsm".parse::<Profile>().is_err());
    }
}
