//! Which addresses the engine may call on a tenant's behalf (bot flows).
//!
//! A bot flow's URL is chosen by the tenant and the reply worker POSTs signed
//! bodies to it, so without a policy it is a way into the operator's network
//! (SSRF): loopback services, cloud metadata at 169.254.169.254, private
//! hosts. Only public unicast addresses are called unless the operator allows
//! private targets. IPv6 forms that carry an IPv4 address (mapped, compatible,
//! NAT64, 6to4) are judged by that IPv4 address, since that is where the
//! packets end up.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use crate::EndpointUrl;

/// What kind of address an IP is, as far as calling it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// Globally routable unicast: the only class called by default.
    Public,
    /// 0.0.0.0, `::`.
    Unspecified,
    /// 0.0.0.0/8 other than 0.0.0.0 ("this network").
    ThisNetwork,
    /// 127.0.0.0/8, `::1`.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16.
    Private,
    /// 100.64/10 (RFC 6598).
    CarrierGradeNat,
    /// 169.254/16 (cloud metadata lives here), fe80::/10.
    LinkLocal,
    /// fc00::/7.
    UniqueLocal,
    /// 224/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18/15, 2001:2::/48.
    Benchmarking,
    /// Everything else that is not public unicast: 240/4, 192.0.0/24,
    /// IPv6 outside 2000::/3, protocol assignments such as Teredo.
    Reserved,
}

impl AddressClass {
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => Self::of_v6(v6),
        }
    }

    pub fn is_public(self) -> bool {
        self == Self::Public
    }

    fn of_v4(ip: Ipv4Addr) -> Self {
        let [a, b, c, _] = ip.octets();
        if ip.is_unspecified() {
            Self::Unspecified
        } else if a == 0 {
            Self::ThisNetwork
        } else if ip.is_loopback() {
            Self::Loopback
        } else if ip.is_private() {
            Self::Private
        } else if a == 100 && (b & 0b1100_0000) == 64 {
            Self::CarrierGradeNat
        } else if ip.is_link_local() {
            Self::LinkLocal
        } else if ip.is_multicast() {
            Self::Multicast
        } else if ip.is_broadcast() {
            Self::Broadcast
        } else if ip.is_documentation() {
            Self::Documentation
        } else if a == 198 && (b & 0b1111_1110) == 18 {
            Self::Benchmarking
        } else if a >= 240 || (a, b, c) == (192, 0, 0) || (a, b, c) == (192, 88, 99) {
            // 192.88.99/24: the deprecated 6to4 relay anycast.
            Self::Reserved
        } else {
            Self::Public
        }
    }

    fn of_v6(ip: Ipv6Addr) -> Self {
        if let Some(v4) = embedded_v4(ip) {
            return Self::of_v4(v4);
        }
        let s = ip.segments();
        if ip.is_unspecified() {
            Self::Unspecified
        } else if ip.is_loopback() {
            Self::Loopback
        } else if ip.is_multicast() {
            Self::Multicast
        } else if ip.is_unique_local() {
            Self::UniqueLocal
        } else if ip.is_unicast_link_local() {
            Self::LinkLocal
        } else if (s[0], s[1]) == (0x2001, 0x0db8) || (s[0] == 0x3fff && s[1] < 0x1000) {
            Self::Documentation
        } else if (s[0], s[1], s[2]) == (0x2001, 0x0002, 0) {
            Self::Benchmarking
        } else if (s[0] & 0xe000) != 0x2000 || (s[0] == 0x2001 && s[1] < 0x0200) {
            // Outside 2000::/3 nothing is allocated for global unicast
            // (fec0::/10, 100::/64, 64:ff9b:1::/48 among others); 2001::/23
            // holds protocol assignments such as Teredo.
            Self::Reserved
        } else {
            Self::Public
        }
    }
}

/// The IPv4 address an IPv6 address stands for, where packets to it reach
/// that IPv4 host: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible
/// (::a.b.c.d, deprecated), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return Some(v4(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(v4(s[1], s[2]));
    }
    None
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Public => "public",
            Self::Unspecified => "unspecified",
            Self::ThisNetwork => "this-network (0.0.0.0/8)",
            Self::Loopback => "loopback",
            Self::Private => "private (RFC 1918)",
            Self::CarrierGradeNat => "carrier-grade NAT",
            Self::LinkLocal => "link-local",
            Self::UniqueLocal => "unique local (ULA)",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::Documentation => "documentation",
            Self::Benchmarking => "benchmarking",
            Self::Reserved => "reserved",
        })
    }
}

/// Whether the engine may call `ip` when private targets are not allowed.
pub fn is_public_unicast(ip: IpAddr) -> bool {
    AddressClass::of(ip).is_public()
}

/// Why a target may not be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EgressRefusal {
    /// The address is not public unicast.
    Address { ip: IpAddr, class: AddressClass },
    /// `localhost` or a name under it (RFC 6761: always loopback).
    LocalhostName { host: String },
}

impl EgressRefusal {
    /// `Err` when `ip` may not be called.
    pub fn check(ip: IpAddr) -> Result<(), Self> {
        match AddressClass::of(ip) {
            AddressClass::Public => Ok(()),
            class => Err(Self::Address { ip, class }),
        }
    }
}

/// Reads as "loopback 127.0.0.1", "link-local 169.254.169.254", "loopback name localhost".
impl fmt::Display for EgressRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address { ip, class } => write!(f, "{class} {ip}"),
            Self::LocalhostName { host } => write!(f, "loopback name {host}"),
        }
    }
}

impl std::error::Error for EgressRefusal {}

/// Refuses a URL whose host is a literal address of a refused class, or
/// `localhost`. Other names are not resolved here: what they resolve to may
/// change, so the caller checks the address it connects to.
pub fn check_endpoint_literal(url: &url::Url, allow_private: bool) -> Result<(), EgressRefusal> {
    if allow_private {
        return Ok(());
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => EgressRefusal::check(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => EgressRefusal::check(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if name == "localhost" || name.ends_with(".localhost") {
                Err(EgressRefusal::LocalhostName { host: name })
            } else {
                Ok(())
            }
        }
        None => Ok(()),
    }
}

/// [`check_endpoint_literal`] for a bot flow's validated URL.
pub fn check_endpoint(url: &EndpointUrl, allow_private: bool) -> Result<(), EgressRefusal> {
    // An EndpointUrl holds a URL that parsed, so it parses again.
    match url::Url::parse(url.as_str()) {
        Ok(url) => check_endpoint_literal(&url, allow_private),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::{AddressClass, EgressRefusal, check_endpoint, check_endpoint_literal, is_public_unicast};
    use crate::EndpointUrl;

    fn class(ip: &str) -> AddressClass {
        AddressClass::of(ip.parse::<IpAddr>().expect(ip))
    }

    #[test]
    fn every_refused_ipv4_range_has_its_class() {
        use AddressClass::*;
        for (ip, expected) in [
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", ThisNetwork),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("10.0.0.1", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("100.64.0.1", CarrierGradeNat),
            ("100.127.255.255", CarrierGradeNat),
            ("169.254.169.254", LinkLocal),
            ("169.254.0.1", LinkLocal),
            ("224.0.0.1", Multicast),
            ("239.255.255.255", Multicast),
            ("255.255.255.255", Broadcast),
            ("192.0.2.10", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("198.18.0.1", Benchmarking),
            ("198.19.255.255", Benchmarking),
            ("192.0.0.8", Reserved),
            ("192.88.99.1", Reserved),
            ("240.0.0.1", Reserved),
            ("254.1.2.3", Reserved),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
            assert!(!is_public_unicast(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn every_refused_ipv6_range_has_its_class() {
        use AddressClass::*;
        for (ip, expected) in [
            ("::", Unspecified),
            ("::1", Loopback),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("ff02::1", Multicast),
            ("ff0e::1", Multicast),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("2001:2::1", Benchmarking),
            ("2001::1", Reserved),
            ("fec0::1", Reserved),
            ("100::1", Reserved),
            ("64:ff9b:1::1", Reserved),
            ("4000::1", Reserved),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_carrying_an_ipv4_address_are_judged_by_it() {
        use AddressClass::*;
        for (ip, expected) in [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:7f00:1", Loopback),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:10.0.0.1", Private),
            ("::127.0.0.1", Loopback),
            ("::10.1.2.3", Private),
            ("::0.0.0.2", ThisNetwork),
            ("64:ff9b::127.0.0.1", Loopback),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
            ("64:ff9b::192.168.0.1", Private),
            ("2002:7f00:1::", Loopback),
            ("2002:a00:1::1", Private),
            ("2002:a9fe:a9fe::", LinkLocal),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
        for ip in ["::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1", "::8.8.8.8"] {
            assert_eq!(class(ip), Public, "{ip} carries a public address");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001::200e",
            "2001:200::1",
        ] {
            assert!(is_public_unicast(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn refusals_read_as_a_class_and_an_address() {
        let refused = EgressRefusal::check("169.254.169.254".parse().unwrap()).unwrap_err();
        assert_eq!(refused.to_string(), "link-local 169.254.169.254");
        let refused = EgressRefusal::check("::ffff:127.0.0.1".parse().unwrap()).unwrap_err();
        assert_eq!(refused.to_string(), "loopback ::ffff:127.0.0.1");
        assert_eq!(class("10.0.0.1").to_string(), "private (RFC 1918)");
        assert_eq!(class("fd00::1").to_string(), "unique local (ULA)");
        assert_eq!(class("100.64.0.1").to_string(), "carrier-grade NAT");
    }

    fn literal(url: &str) -> Result<(), EgressRefusal> {
        check_endpoint_literal(&url::Url::parse(url).expect(url), false)
    }

    #[test]
    fn urls_with_a_refused_literal_host_or_localhost_are_refused() {
        for (url, refusal) in [
            ("http://127.0.0.1:9100/", "loopback 127.0.0.1"),
            ("http://[::1]:8080/bot", "loopback ::1"),
            ("http://169.254.169.254/latest/meta-data/", "link-local 169.254.169.254"),
            ("http://[::ffff:127.0.0.1]/", "loopback ::ffff:127.0.0.1"),
            ("http://[64:ff9b::a9fe:a9fe]/", "link-local 64:ff9b::a9fe:a9fe"),
            ("https://10.0.0.5:8443/hook", "private (RFC 1918) 10.0.0.5"),
            ("http://0.0.0.0/", "unspecified 0.0.0.0"),
            ("http://localhost:3000/", "loopback name localhost"),
            ("http://LOCALHOST./", "loopback name localhost"),
            ("http://bot.localhost/", "loopback name bot.localhost"),
        ] {
            assert_eq!(literal(url).unwrap_err().to_string(), refusal, "{url}");
        }
    }

    #[test]
    fn the_url_crate_normalises_numeric_hosts_before_they_are_checked() {
        for url in ["http://0x7f000001/", "http://2130706433/", "http://127.1/", "http://0177.0.0.1/"] {
            let parsed = url::Url::parse(url).unwrap();
            assert_eq!(parsed.host_str(), Some("127.0.0.1"), "{url}");
            assert_eq!(literal(url).unwrap_err().to_string(), "loopback 127.0.0.1", "{url}");
        }
    }

    #[test]
    fn public_literals_and_names_pass_and_private_targets_may_be_allowed() {
        for url in [
            "https://8.8.8.8/",
            "http://[2606:4700::1111]/",
            "https://bot.example.com/hook",
            "http://localhost.example.com/",
        ] {
            assert_eq!(literal(url), Ok(()), "{url}");
        }
        let loopback = url::Url::parse("http://127.0.0.1:9100/").unwrap();
        assert_eq!(check_endpoint_literal(&loopback, true), Ok(()));
        let endpoint = EndpointUrl::parse("http://0x7f000001:9100/").unwrap();
        assert!(check_endpoint(&endpoint, false).is_err());
        assert_eq!(check_endpoint(&endpoint, true), Ok(()));
    }
}
