//! Listen addresses as indigo's Go flags write them: `:2470` (port only) beside `host:port`.

use std::net::{Ipv4Addr, SocketAddr};

/// Parses `ip:port`, `[ipv6]:port`, or `:port` (every IPv4 interface, as `0.0.0.0:port`).
///
/// # Errors
/// A message naming the accepted forms.
pub fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
    if let Some(port) = text.strip_prefix(':') {
        return port
            .parse::<u16>()
            .map(|port| SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
            .map_err(|_| format!("`{text}`: the port after `:` must be a number up to 65535"));
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!("`{text}` is not a listen address: write `:2470`, `127.0.0.1:2470` or `[::]:2470`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_only_means_every_interface() {
        assert_eq!(
            parse_listen_addr(":2470").unwrap(),
            "0.0.0.0:2470".parse().unwrap()
        );
        assert_eq!(
            parse_listen_addr("127.0.0.1:0").unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(
            parse_listen_addr("[::1]:2471").unwrap(),
            "[::1]:2471".parse().unwrap()
        );
    }

    #[test]
    fn bad_forms_are_refused_with_the_accepted_ones_named() {
        for bad in [
            ":",
            ":http",
            ":70000",
            "localhost",
            "2470",
            "example.com:2470",
        ] {
            let error = parse_listen_addr(bad).unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }
}
