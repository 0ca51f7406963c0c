//! SSRF guard: webhook destinations must be public addresses.
//!
//! Refused: loopback, private (RFC 1918, ULA), link-local, CGNAT (100.64/10), multicast,
//! broadcast, documentation, benchmarking, reserved and unspecified ranges, for IPv4 and IPv6,
//! including IPv4-mapped/compatible IPv6 and NAT64 forms. Literal hosts are checked when a URL is
//! saved (the WHATWG URL parser already turns decimal, hex and short IPv4 forms such as
//! `http://2130706433/` or `http://0x7f.1/` into `127.0.0.1`); resolved addresses are checked
//! again at connect time, so a name that later resolves to a private address (DNS rebinding) is
//! refused too. `SWITCHBOARD_ALLOW_PRIVATE_DESTINATIONS` (`true` or CIDRs) lifts the guard.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Which non-public destinations are allowed anyway.
#[derive(Debug, Clone, Default)]
pub enum Allow {
    #[default]
    None,
    All,
    Nets(Vec<IpNet>),
}

impl Allow {
    /// Parses the setting: unset/empty/`false` → none, `true` → all, else a comma list of CIDRs
    /// (a bare address is a /32 or /128).
    pub fn parse(setting: Option<&str>) -> Result<Self, String> {
        let Some(s) = setting.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(Allow::None);
        };
        match s.to_ascii_lowercase().as_str() {
            "false" | "0" | "no" | "off" => return Ok(Allow::None),
            "true" | "1" | "yes" | "on" => return Ok(Allow::All),
            _ => {}
        }
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{p}` is not a CIDR or IP address"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Allow::Nets)
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        match self {
            Allow::All => true,
            Allow::None => is_public(ip),
            Allow::Nets(nets) => is_public(ip) || nets.iter().any(|n| n.contains(&ip)),
        }
    }
}

/// True for globally routable unicast addresses.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_public_v4(v4);
            }
            is_public_v6(v6)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18/15
        || a >= 240) // reserved 240/4
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments 2001::/23 (Teredo, ORCHID…)
        || s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard-only 100::/64
}

/// The IPv4 address inside IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`),
/// NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::`) addresses.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !(s[6] == 0 && s[7] <= 1) {
        return Some(tail());
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(tail());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// Checks a URL's literal host at save time: IP literals must be permitted; names are
/// checked when resolved, at connect time.
pub fn check_url_host(url: &url::Url, allow: &Allow) -> Result<(), String> {
    let blocked = |ip: IpAddr| {
        Err(format!(
            "points to a non-public address ({ip}); webhooks must reach public hosts"
        ))
    };
    match url.host() {
        Some(url::Host::Ipv4(ip)) if !allow.permits(IpAddr::V4(ip)) => blocked(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) if !allow.permits(IpAddr::V6(ip)) => blocked(IpAddr::V6(ip)),
        Some(url::Host::Domain(d)) if matches!(allow, Allow::None) && is_local_name(d) => Err(
            format!("`{d}` is a local name; webhooks must reach public hosts"),
        ),
        None => Err("must have a host".into()),
        _ => Ok(()),
    }
}

/// Names that always mean this machine or its local network.
fn is_local_name(d: &str) -> bool {
    let d = d.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost"
        || d.ends_with(".localhost")
        || d.ends_with(".local")
        || d.ends_with(".internal")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(u: &str) -> bool {
        check_url_host(&url::Url::parse(u).unwrap(), &Allow::None).is_err()
    }

    #[test]
    fn every_non_public_form_is_refused_at_save() {
        for u in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0x7f.1/",
            "http://017700000001/",
            "http://0.0.0.0/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/",
            "http://100.64.0.1/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://192.0.2.1/",
            "http://198.51.100.7/",
            "http://203.0.113.9/",
            "http://198.18.0.1/",
            "http://240.0.0.1/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::10.0.0.1]/",
            "http://[2002:7f00:1::]/",
            "http://[fc00::1]/",
            "http://[fd12:3456::1]/",
            "http://[fe80::1]/",
            "http://[ff02::1]/",
            "http://[2001:db8::1]/",
            "http://localhost:8080/",
            "http://foo.localhost/",
        ] {
            assert!(refused(u), "{u} should be refused");
        }
    }

    #[test]
    fn public_destinations_pass() {
        for u in [
            "https://example.com/hook",
            "http://93.184.216.34/",
            "http://[2606:2800:220:1:248:1893:25c8:1946]/",
            "http://8.8.8.8/",
        ] {
            assert!(!refused(u), "{u} should pass");
        }
    }

    #[test]
    fn the_allow_setting_lifts_the_guard_for_all_or_listed_networks() {
        assert!(matches!(Allow::parse(None).unwrap(), Allow::None));
        assert!(matches!(Allow::parse(Some("true")).unwrap(), Allow::All));
        let nets = Allow::parse(Some("127.0.0.0/8, ::1")).unwrap();
        assert!(nets.permits("127.0.0.1".parse().unwrap()));
        assert!(nets.permits("::1".parse().unwrap()));
        assert!(!nets.permits("10.0.0.1".parse().unwrap()));
        assert!(Allow::parse(Some("not-a-net")).is_err());
    }
}
