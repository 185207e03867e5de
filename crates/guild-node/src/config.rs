//! The daemon's configuration file (TOML, `configs/default.toml` documents every key).
//!
//! Missing keys take defaults; unknown keys are returned as warnings naming them (typos should not
//! silently do nothing); invalid values are errors naming the key and the reason.

use guild_core::time::parse_duration;
use libp2p::Multiaddr;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default configuration file, as shipped in `configs/default.toml`.
pub const DEFAULT_CONFIG: &str = include_str!("../../../configs/default.toml");

/// A duration written as `"7d"`, `"12h"`, `"90s"` (or a number of seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secs(pub u64);

impl Secs {
    /// As a `Duration`.
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.0)
    }
}

impl Serialize for Secs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}s", self.0))
    }
}

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Secs(n)),
            Raw::S(s) => parse_duration(&s).map(Secs).map_err(de::Error::custom),
        }
    }
}

/// `[network]`: how the node joins its community.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkSection {
    /// Community name (part of every protocol id and topic).
    pub community: String,
    /// Listen multiaddrs.
    pub listen: Vec<String>,
    /// Bootstrap peers (multiaddrs ending in `/p2p/<id>`).
    pub bootstrap: Vec<String>,
    /// mDNS discovery on the LAN.
    pub mdns: bool,
    /// Kademlia server mode.
    pub kad_server: bool,
    /// Serve as a circuit relay.
    pub relay_server: bool,
    /// Relays to reserve circuits on.
    pub relays: Vec<String>,
    /// Addresses others can reach us at.
    pub external_addrs: Vec<String>,
    /// AutoNAT probing.
    pub autonat: bool,
    /// DCUtR hole punching.
    pub dcutr: bool,
    /// Connection limit in total.
    pub max_connections: u32,
    /// Connection limit per peer.
    pub max_connections_per_peer: u32,
    /// Established inbound connections (below `max_connections`, so our own dials keep room).
    pub max_incoming: u32,
    /// Established outbound connections.
    pub max_outgoing: u32,
    /// Inbound connections from one IP address (IPv6: one /64), pending or established.
    pub max_incoming_per_ip: u32,
    /// Inbound handshakes one IP address (IPv6: one /64) may start at once after a quiet
    /// spell; past it `handshakes_per_ip_per_minute`, refused before the handshake.
    pub handshake_burst_per_ip: u32,
    /// Inbound handshakes one IP address may start per minute, sustained.
    pub handshakes_per_ip_per_minute: u32,
    /// Established inbound slots kept for known members (trust path, collaborators, roots,
    /// sponsored newcomers); strangers cannot take them. At most a quarter of `max_incoming`
    /// (more is a configuration error: lower both together).
    pub reserved_incoming: u32,
    /// Strangers' established inbound connections from one address range (IPv4 /24, IPv6 /48).
    pub max_incoming_per_range: u32,
    /// Inbound connections still in their handshake (each costs a Diffie-Hellman).
    pub max_pending_incoming: u32,
    /// Inbound TCP connections taken off the listeners at once after a quiet spell; past it
    /// `accepts_per_second`, the rest waiting in order in the kernel's accept queue.
    pub accept_burst: u32,
    /// Inbound TCP connections taken off the listeners per second, sustained.
    pub accepts_per_second: u32,
    /// Bytes a stranger's inbound connection may deliver at once after a quiet spell.
    pub stranger_read_burst: u32,
    /// Bytes a second a stranger's inbound connection may deliver, sustained.
    pub stranger_read_rate: u32,
    /// Bytes all strangers' inbound connections together may deliver at once.
    pub strangers_total_read_burst: u32,
    /// Bytes a second all strangers' inbound connections together may deliver, sustained,
    /// handed out in turns across address ranges and connections.
    pub strangers_total_read_rate: u32,
    /// How long a banned stranger's address stays penalised.
    pub address_penalty: Secs,
    /// For this long after a ban, no stranger from that address is admitted (at most
    /// `address_penalty`).
    pub address_cooldown: Secs,
    /// Banned addresses within one range (IPv4 /24, IPv6 /48) that penalise the whole range.
    pub range_bans: u32,
    /// Stranger connections a penalised range may hold at once.
    pub penalised_range_strangers: u32,
    /// DHT random walk interval.
    pub random_walk_interval: Secs,
    /// Below this many connections the node dials more members.
    pub low_water: usize,
    /// Above this many connections the node prunes down to `low_water`.
    pub high_water: usize,
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            community: "main".into(),
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".into(),
                "/ip4/0.0.0.0/udp/0/quic-v1".into(),
            ],
            bootstrap: vec![],
            mdns: true,
            kad_server: true,
            relay_server: false,
            relays: vec![],
            external_addrs: vec![],
            autonat: true,
            dcutr: true,
            max_connections: 256,
            max_connections_per_peer: 2,
            max_incoming: guild_net::config::DEFAULT_MAX_INCOMING,
            max_outgoing: guild_net::config::DEFAULT_MAX_OUTGOING,
            max_incoming_per_ip: guild_net::config::DEFAULT_MAX_INCOMING_PER_IP,
            handshake_burst_per_ip: guild_net::config::DEFAULT_HANDSHAKE_BURST_PER_IP,
            handshakes_per_ip_per_minute: guild_net::config::DEFAULT_HANDSHAKES_PER_IP_PER_MINUTE,
            reserved_incoming: guild_net::config::DEFAULT_RESERVED_INCOMING,
            max_incoming_per_range: guild_net::config::DEFAULT_MAX_INCOMING_PER_RANGE,
            max_pending_incoming: guild_net::config::DEFAULT_MAX_PENDING_INCOMING,
            accept_burst: guild_net::config::DEFAULT_ACCEPT_BURST,
            accepts_per_second: guild_net::config::DEFAULT_ACCEPTS_PER_SECOND,
            stranger_read_burst: guild_net::config::DEFAULT_STRANGER_READ_BURST,
            stranger_read_rate: guild_net::config::DEFAULT_STRANGER_READ_RATE,
            strangers_total_read_burst: guild_net::config::DEFAULT_STRANGERS_TOTAL_READ_BURST,
            strangers_total_read_rate: guild_net::config::DEFAULT_STRANGERS_TOTAL_READ_RATE,
            address_penalty: Secs(guild_net::guard::ADDRESS_PENALTY.as_secs()),
            address_cooldown: Secs(guild_net::guard::ADDRESS_COOLDOWN.as_secs()),
            range_bans: guild_net::guard::RANGE_BANS,
            penalised_range_strangers: guild_net::guard::PENALISED_RANGE_STRANGERS,
            random_walk_interval: Secs(300),
            low_water: guild_service::mesh::DEFAULT_LOW,
            high_water: guild_service::mesh::DEFAULT_HIGH,
        }
    }
}

/// `[profile]`: publishing the node's own profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileSection {
    /// Validity of a published profile.
    pub lifetime: Secs,
    /// Republish interval.
    pub republish_interval: Secs,
}

impl Default for ProfileSection {
    fn default() -> Self {
        ProfileSection {
            lifetime: Secs(7 * 86_400),
            republish_interval: Secs(12 * 3600),
        }
    }
}

/// `[limits]`: bounds on what peers can make us store and send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsSection {
    /// Most profiles in the index.
    pub max_profiles: usize,
    /// Records accepted per peer per minute.
    pub records_per_peer_per_minute: u32,
    /// Records per sync response.
    pub sync_batch: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_profiles: 100_000,
            records_per_peer_per_minute: 600,
            sync_batch: 256,
        }
    }
}

/// `[control]`: the local control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ControlSection {
    /// Socket path; empty means `$GUILD_HOME/guild.sock`.
    pub socket: String,
    /// Simultaneous connections.
    pub max_connections: usize,
    /// Largest request line.
    pub max_request_bytes: usize,
    /// Per-subscriber event queue.
    pub subscriber_queue: usize,
}

impl Default for ControlSection {
    fn default() -> Self {
        ControlSection {
            socket: String::new(),
            max_connections: 64,
            max_request_bytes: 1 << 20,
            subscriber_queue: 1024,
        }
    }
}

/// `[metrics]`: Prometheus endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricsSection {
    /// Serve metrics.
    pub enabled: bool,
    /// Loopback address to serve on.
    pub listen: String,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            enabled: false,
            listen: "127.0.0.1:9464".into(),
        }
    }
}

/// `[web]`: the dashboard served by the daemon on loopback.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WebSection {
    /// Serve the dashboard.
    pub enabled: bool,
    /// Loopback address to serve on (port 0 picks a free port).
    pub listen: String,
}

impl Default for WebSection {
    fn default() -> Self {
        WebSection {
            enabled: true,
            listen: "127.0.0.1:7878".into(),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LogSection {
    /// tracing filter.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `[network]`.
    pub network: NetworkSection,
    /// `[profile]`.
    pub profile: ProfileSection,
    /// `[limits]`.
    pub limits: LimitsSection,
    /// `[control]`.
    pub control: ControlSection,
    /// `[metrics]`.
    pub metrics: MetricsSection,
    /// `[web]`.
    pub web: WebSection,
    /// `[log]`.
    pub log: LogSection,
}

/// A configuration problem. Messages name the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Cannot read the file.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// I/O error.
        source: std::io::Error,
    },
    /// Not TOML, or a value of the wrong type.
    #[error("config file {path}: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Parser message (names the key and line).
        message: String,
    },
    /// A value of the right type that is not acceptable.
    #[error("config file {path}: invalid value for `{key}`: {reason}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// Dotted key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl Config {
    /// Parses configuration text. Returns the config and warnings for unknown keys.
    pub fn parse(path: &Path, text: &str) -> Result<(Config, Vec<String>), ConfigError> {
        let value: toml::Value = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let config: Config =
            Config::deserialize(value.clone()).map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        let known = toml::Value::try_from(Config::default()).unwrap_or(toml::Value::Boolean(false));
        let mut warnings = Vec::new();
        unknown_keys(&value, &known, "", &mut warnings);
        let warnings = warnings
            .into_iter()
            .map(|k| format!("config file {}: unknown key `{k}` ignored", path.display()))
            .collect();
        config.validate(path)?;
        Ok((config, warnings))
    }

    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Checks values that parse but make no sense.
    ///
    /// Long (about 165 lines) because it is a flat list: one check per key, each naming the key
    /// and the rule it breaks.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let n = &self.network;
        if n.community.is_empty()
            || n.community.len() > 64
            || !n
                .community
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(invalid(
                "network.community",
                format!(
                    "`{}` must be 1-64 characters of a-z, 0-9, '-', '_', '.'",
                    n.community
                ),
            ));
        }
        for (key, list, need_p2p) in [
            ("network.listen", &n.listen, false),
            ("network.bootstrap", &n.bootstrap, true),
            ("network.relays", &n.relays, true),
            ("network.external_addrs", &n.external_addrs, false),
        ] {
            for a in list {
                check_multiaddr(a, need_p2p).map_err(|r| invalid(key, r))?;
            }
        }
        if n.max_connections == 0 {
            return Err(invalid(
                "network.max_connections",
                "must be at least 1".into(),
            ));
        }
        for (key, value) in [
            (
                "network.max_connections_per_peer",
                n.max_connections_per_peer,
            ),
            ("network.max_incoming", n.max_incoming),
            ("network.max_outgoing", n.max_outgoing),
            ("network.max_incoming_per_ip", n.max_incoming_per_ip),
            ("network.handshake_burst_per_ip", n.handshake_burst_per_ip),
            (
                "network.handshakes_per_ip_per_minute",
                n.handshakes_per_ip_per_minute,
            ),
            ("network.max_incoming_per_range", n.max_incoming_per_range),
            ("network.max_pending_incoming", n.max_pending_incoming),
            ("network.accept_burst", n.accept_burst),
            ("network.accepts_per_second", n.accepts_per_second),
            ("network.stranger_read_burst", n.stranger_read_burst),
            ("network.stranger_read_rate", n.stranger_read_rate),
            (
                "network.strangers_total_read_burst",
                n.strangers_total_read_burst,
            ),
            (
                "network.strangers_total_read_rate",
                n.strangers_total_read_rate,
            ),
            ("network.range_bans", n.range_bans),
            (
                "network.penalised_range_strangers",
                n.penalised_range_strangers,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        if n.address_penalty.0 == 0 {
            return Err(invalid(
                "network.address_penalty",
                "must be at least 1s".into(),
            ));
        }
        if n.address_cooldown.0 > n.address_penalty.0 {
            return Err(invalid(
                "network.address_cooldown",
                format!(
                    "must not be longer than network.address_penalty ({}s)",
                    n.address_penalty.0
                ),
            ));
        }
        if n.reserved_incoming > n.max_incoming / 4 {
            return Err(invalid(
                "network.reserved_incoming",
                format!(
                    "{} is more than a quarter of network.max_incoming ({}): at most {}",
                    n.reserved_incoming,
                    n.max_incoming,
                    n.max_incoming / 4
                ),
            ));
        }
        if n.low_water == 0 {
            return Err(invalid("network.low_water", "must be at least 1".into()));
        }
        if n.high_water < n.low_water || n.high_water > n.max_connections as usize {
            return Err(invalid(
                "network.high_water",
                format!(
                    "must be between network.low_water ({}) and network.max_connections ({})",
                    n.low_water, n.max_connections
                ),
            ));
        }
        if n.random_walk_interval.0 < 10 {
            return Err(invalid(
                "network.random_walk_interval",
                "must be at least 10s".into(),
            ));
        }
        let p = &self.profile;
        if p.lifetime.0 < 3600 || p.lifetime.0 > guild_core::limits::MAX_PROFILE_LIFETIME {
            return Err(invalid(
                "profile.lifetime",
                "must be between 1h and 30d".into(),
            ));
        }
        if p.republish_interval.0 < 60 || p.republish_interval.0 * 2 > p.lifetime.0 {
            return Err(invalid(
                "profile.republish_interval",
                "must be at least 1m and at most half of profile.lifetime".into(),
            ));
        }
        let l = &self.limits;
        if l.max_profiles == 0 {
            return Err(invalid("limits.max_profiles", "must be at least 1".into()));
        }
        if l.records_per_peer_per_minute == 0 {
            return Err(invalid(
                "limits.records_per_peer_per_minute",
                "must be at least 1".into(),
            ));
        }
        if l.sync_batch == 0 || l.sync_batch > 4096 {
            return Err(invalid(
                "limits.sync_batch",
                "must be between 1 and 4096".into(),
            ));
        }
        let c = &self.control;
        if c.max_connections == 0 {
            return Err(invalid(
                "control.max_connections",
                "must be at least 1".into(),
            ));
        }
        if c.max_request_bytes < 1024 || c.max_request_bytes > 16 << 20 {
            return Err(invalid(
                "control.max_request_bytes",
                "must be between 1024 and 16777216".into(),
            ));
        }
        if c.subscriber_queue == 0 || c.subscriber_queue > 1 << 20 {
            return Err(invalid(
                "control.subscriber_queue",
                "must be between 1 and 1048576".into(),
            ));
        }
        let addr: std::net::SocketAddr =
            self.metrics.listen.parse().map_err(|e| {
                invalid("metrics.listen", format!("`{}`: {e}", self.metrics.listen))
            })?;
        if !addr.ip().is_loopback() {
            return Err(invalid(
                "metrics.listen",
                format!("{addr} is not a loopback address; metrics are only served locally"),
            ));
        }
        let addr: std::net::SocketAddr = self
            .web
            .listen
            .parse()
            .map_err(|e| invalid("web.listen", format!("`{}`: {e}", self.web.listen)))?;
        if !addr.ip().is_loopback() {
            return Err(invalid(
                "web.listen",
                format!(
                    "{addr} is not a loopback address; the dashboard is only served on this \
                     machine (use 127.0.0.1 or [::1])"
                ),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| invalid("log.level", e.to_string()))?;
        Ok(())
    }
}

/// Checks a multiaddr; with `need_p2p`, it must end in `/p2p/<peer id>`.
pub fn check_multiaddr(text: &str, need_p2p: bool) -> Result<Multiaddr, String> {
    let addr: Multiaddr = text
        .parse()
        .map_err(|e| format!("`{text}` is not a multiaddr: {e}"))?;
    if need_p2p
        && !matches!(
            addr.iter().last(),
            Some(libp2p::multiaddr::Protocol::P2p(_))
        )
    {
        return Err(format!("`{text}` must end in /p2p/<peer id>"));
    }
    Ok(addr)
}

fn unknown_keys(value: &toml::Value, known: &toml::Value, prefix: &str, out: &mut Vec<String>) {
    if let (toml::Value::Table(t), toml::Value::Table(k)) = (value, known) {
        for (key, v) in t {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match k.get(key) {
                None => out.push(path),
                Some(kv) => unknown_keys(v, kv, &path, out),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("test.toml")
    }

    #[test]
    fn shipped_default_parses_cleanly_and_equals_defaults() {
        let (c, warnings) = Config::parse(p(), DEFAULT_CONFIG).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let d = Config::default();
        assert_eq!(
            toml::Value::try_from(&c).unwrap(),
            toml::Value::try_from(&d).unwrap(),
            "configs/default.toml documents exactly the built-in defaults"
        );
    }

    #[test]
    fn every_default_key_is_documented_in_the_shipped_file() {
        let known = toml::Value::try_from(Config::default()).unwrap();
        for (section, table) in known.as_table().unwrap() {
            for key in table.as_table().unwrap().keys() {
                assert!(
                    DEFAULT_CONFIG.contains(&format!("\n{key} =")),
                    "{section}.{key} missing from configs/default.toml"
                );
            }
        }
    }

    #[test]
    fn more_reserved_room_than_a_quarter_of_the_inbound_slots_is_refused() {
        let text = "[network]\nmdns = false\nmax_incoming = 100\nreserved_incoming = 26\n";
        match Config::parse(p(), text) {
            Err(ConfigError::Invalid { key, reason, .. }) => {
                assert_eq!(key, "network.reserved_incoming");
                assert!(reason.contains("at most 25"), "{reason}");
            }
            other => panic!("accepted: {other:?}"),
        }
        let text = "[network]\nmdns = false\nmax_incoming = 100\nreserved_incoming = 25\n";
        Config::parse(p(), text).unwrap();
    }

    #[test]
    fn guard_limits_reach_the_network_layer() {
        let text = "[network]\nmdns = false\nreserved_incoming = 20\nmax_incoming_per_range = 9\n\
                    max_pending_incoming = 7\naddress_penalty = \"30m\"\naddress_cooldown = \"2m\"\n\
                    range_bans = 2\npenalised_range_strangers = 1\n";
        let (c, w) = Config::parse(p(), text).unwrap();
        assert!(w.is_empty(), "{w:?}");
        let net = crate::node::NodeOptions::from_config(&c).unwrap().net;
        assert_eq!(net.reserved_incoming, 20);
        assert_eq!(net.max_incoming_per_range, 9);
        assert_eq!(net.max_pending_incoming, 7);
        assert_eq!(net.address_penalty, Duration::from_secs(1800));
        assert_eq!(net.address_cooldown, Duration::from_secs(120));
        assert_eq!(net.range_bans, 2);
        assert_eq!(net.penalised_range_strangers, 1);
        net.validate().unwrap();
        // The defaults are the network layer's own.
        let d = crate::node::NodeOptions::from_config(&Config::default())
            .unwrap()
            .net;
        let g = guild_net::NetConfig::default();
        assert_eq!(
            (
                d.reserved_incoming,
                d.max_incoming_per_range,
                d.max_pending_incoming
            ),
            (
                g.reserved_incoming,
                g.max_incoming_per_range,
                g.max_pending_incoming
            )
        );
        assert_eq!(
            (
                d.address_penalty,
                d.address_cooldown,
                d.range_bans,
                d.penalised_range_strangers
            ),
            (
                g.address_penalty,
                g.address_cooldown,
                g.range_bans,
                g.penalised_range_strangers
            )
        );
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let (c, w) = Config::parse(p(), "").unwrap();
        assert!(w.is_empty());
        assert_eq!(c.network.community, "main");
    }

    #[test]
    fn unknown_keys_warn_with_their_names() {
        let (_, w) = Config::parse(p(), "[network]\nmdsn = false\n[extra]\nx = 1\n").unwrap();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].contains("network.mdsn") || w[1].contains("network.mdsn"),
            "{w:?}"
        );
        assert!(w.iter().any(|x| x.contains("`extra`")), "{w:?}");
    }

    #[test]
    fn invalid_values_name_key_and_reason() {
        let cases = [
            ("[network]\nmdns = \"yes\"\n", "mdns"),
            (
                "[network]\nbootstrap = [\"/ip4/1.2.3.4/tcp/1\"]\n",
                "network.bootstrap",
            ),
            ("[network]\nlisten = [\"nonsense\"]\n", "network.listen"),
            ("[network]\ncommunity = \"a b\"\n", "network.community"),
            ("[network]\nlow_water = 0\n", "network.low_water"),
            (
                "[network]\nmax_incoming_per_range = 0\n",
                "network.max_incoming_per_range",
            ),
            ("[network]\nrange_bans = 0\n", "network.range_bans"),
            (
                "[network]\npenalised_range_strangers = 0\n",
                "network.penalised_range_strangers",
            ),
            (
                "[network]\naddress_penalty = 0\n",
                "network.address_penalty",
            ),
            (
                "[network]\naddress_penalty = \"1m\"\naddress_cooldown = \"2m\"\n",
                "network.address_cooldown",
            ),
            (
                "[network]\nlow_water = 20\nhigh_water = 10\n",
                "network.high_water",
            ),
            (
                "[network]\nmax_connections = 8\nhigh_water = 32\n",
                "network.high_water",
            ),
            ("[profile]\nlifetime = \"90d\"\n", "profile.lifetime"),
            ("[profile]\nlifetime = \"7x\"\n", "unknown duration unit"),
            ("[metrics]\nlisten = \"0.0.0.0:9464\"\n", "metrics.listen"),
            ("[web]\nlisten = \"0.0.0.0:7878\"\n", "web.listen"),
            ("[web]\nlisten = \"192.168.1.2:80\"\n", "not a loopback"),
            ("[limits]\nmax_profiles = -1\n", "max_profiles"),
            (
                "[control]\nmax_request_bytes = 10\n",
                "control.max_request_bytes",
            ),
            ("not toml at all [", "test.toml"),
        ];
        for (text, needle) in cases {
            let err = Config::parse(p(), text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?} gave {err}");
        }
    }
}
