//! CQD building (subnet) files, as admins upload them to the Call Quality Dashboard, and subnet lookup.
//!
//! # File format
//!
//! CSV or TSV, no header row, one row per subnet, columns in this order:
//! `NetworkIP, NetworkName, NetworkRange, BuildingName, OwnershipType, BuildingType, BuildingOfficeType,
//! City, ZipCode, Country, State, Region, InsideCorp, ExpressRoute[, VPN]` — 14 or 15 columns (Microsoft's
//! page says 14 but lists 15; both are accepted, row by row).
//!
//! - The delimiter is decided once per file: a tab in the first non-blank line means TSV, else CSV. CSV
//!   fields may be double-quoted (`"Seattle, WA"`, `""` for a quote); TSV fields are taken literally.
//! - A UTF-8 byte-order mark, `\r\n` line ends, blank lines and lines whose fields are all empty (Excel's
//!   trailing `,,,,` rows) are ignored. Fields are trimmed.
//! - `NetworkIP` is an IPv4 address; `NetworkRange` a prefix length 8–28 (IPv6 rows are rejected: the
//!   8–28 range is CQD's IPv4 rule). Host bits in `NetworkIP` are cleared (`10.0.1.7` + `24` is
//!   `10.0.1.0/24`), so a row is accepted as the admin meant it.
//! - `InsideCorp` and `ExpressRoute` must be `0` or `1`; `VPN` is `0`, `1` or empty (or missing).
//! - Every bad row is reported (line number and what is wrong), not just the first.
//!
//! # Overlap, supernets and the most specific match
//!
//! CIDR ranges never partially overlap: two ranges are either disjoint, or one contains the other. CQD
//! allows supernets (a `/16` for a campus with `/24`s for some of its buildings inside it), so containment
//! is NOT an overlap. The only overlap left, and the one rejected, is two rows denoting the SAME network
//! (same address after clearing host bits, same prefix): CQD could not tell which building it is. The error
//! names both rows by line number. A lookup picks the most specific (longest-prefix) row containing the
//! address, so a building `/24` inside a campus `/16` wins for its addresses.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::rows::{Corp, EndpointSlicers};

/// An IPv4 network (address with host bits cleared, prefix length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    addr: u32,
    prefix: u8,
}

impl Ipv4Net {
    /// The network of `addr` with `prefix` bits (0–32), host bits cleared.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Ipv4Net {
        let prefix = prefix.min(32);
        Ipv4Net {
            addr: u32::from(addr) & mask(prefix),
            prefix,
        }
    }
    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }
    pub fn prefix(self) -> u8 {
        self.prefix
    }
    pub fn contains(self, a: Ipv4Addr) -> bool {
        u32::from(a) & mask(self.prefix) == self.addr
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One row of a building file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Building {
    /// `NetworkIP`/`NetworkRange`.
    pub network: Ipv4Net,
    pub network_name: String,
    pub building_name: String,
    pub ownership_type: String,
    pub building_type: String,
    pub building_office_type: String,
    pub city: String,
    pub zip_code: String,
    pub country: String,
    pub state: String,
    pub region: String,
    pub inside_corp: bool,
    pub express_route: bool,
    /// `None` when the file has 14 columns or the column is empty.
    pub vpn: Option<bool>,
    /// 1-based line of the file the row came from.
    pub line: usize,
}

/// A problem with one row of a building file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Why a building file was rejected: every bad row, in line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildingFileError {
    pub errors: Vec<RowError>,
}

impl fmt::Display for BuildingFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "building file rejected ({} error", self.errors.len())?;
        if self.errors.len() != 1 {
            f.write_str("s")?;
        }
        f.write_str(")")?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BuildingFileError {}

/// The buildings of a file, indexed for longest-prefix lookup.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BuildingMap {
    rows: Vec<Building>,
    index: HashMap<(u32, u8), usize>,
    /// Prefix lengths present, longest first.
    prefixes: Vec<u8>,
}

fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
            at_start = true;
            continue;
        } else if c == '"' && at_start && cur.trim().is_empty() {
            cur.clear();
            in_quotes = true;
        } else {
            cur.push(c);
        }
        at_start = false;
    }
    if in_quotes {
        return Err("unterminated quoted field".to_owned());
    }
    out.push(cur);
    Ok(out)
}

fn flag(value: &str, column: &str, allow_empty: bool) -> Result<Option<bool>, String> {
    match value {
        "0" => Ok(Some(false)),
        "1" => Ok(Some(true)),
        "" if allow_empty => Ok(None),
        "" => Err(format!("{column} is empty (expected 0 or 1)")),
        v => Err(format!("{column} is {v:?} (expected 0 or 1)")),
    }
}

fn parse_row(fields: &[String], line: usize) -> Result<Building, String> {
    if fields.len() != 14 && fields.len() != 15 {
        return Err(format!(
            "expected 14 or 15 columns (NetworkIP, NetworkName, NetworkRange, BuildingName, OwnershipType, \
             BuildingType, BuildingOfficeType, City, ZipCode, Country, State, Region, InsideCorp, \
             ExpressRoute[, VPN]), found {}",
            fields.len()
        ));
    }
    let f = |i: usize| fields[i].trim().to_owned();
    let ip_text = f(0);
    let ip: Ipv4Addr = match ip_text.parse() {
        Ok(ip) => ip,
        Err(_) if ip_text.parse::<std::net::Ipv6Addr>().is_ok() => {
            return Err(format!(
                "NetworkIP {ip_text:?} is IPv6; CQD building files take IPv4 networks (NetworkRange 8–28)"
            ));
        }
        Err(_) => return Err(format!("NetworkIP {ip_text:?} is not an IPv4 address")),
    };
    let range_text = f(2);
    let prefix: u8 = match range_text.parse::<u8>() {
        Ok(p) if (8..=28).contains(&p) => p,
        Ok(p) => return Err(format!("NetworkRange {p} is outside 8–28")),
        Err(_) => {
            return Err(format!(
                "NetworkRange {range_text:?} is not a prefix length (8–28)"
            ));
        }
    };
    let mut errs = Vec::new();
    let inside = flag(&f(12), "InsideCorp", false).unwrap_or_else(|e| {
        errs.push(e);
        None
    });
    let express = flag(&f(13), "ExpressRoute", false).unwrap_or_else(|e| {
        errs.push(e);
        None
    });
    let vpn = if fields.len() == 15 {
        flag(&f(14), "VPN", true).unwrap_or_else(|e| {
            errs.push(e);
            None
        })
    } else {
        None
    };
    if !errs.is_empty() {
        return Err(errs.join("; "));
    }
    Ok(Building {
        network: Ipv4Net::new(ip, prefix),
        network_name: f(1),
        building_name: f(3),
        ownership_type: f(4),
        building_type: f(5),
        building_office_type: f(6),
        city: f(7),
        zip_code: f(8),
        country: f(9),
        state: f(10),
        region: f(11),
        inside_corp: inside == Some(true),
        express_route: express == Some(true),
        vpn,
        line,
    })
}

/// Parses an IPv4 address, or the address part of `a.b.c.d/n` (returned with `n`).
fn parse_subnet(s: &str) -> Option<(Ipv4Addr, Option<u8>)> {
    let s = s.trim();
    match s.split_once('/') {
        Some((a, p)) => Some((a.trim().parse().ok()?, Some(p.trim().parse().ok()?))),
        None => Some((s.parse().ok()?, None)),
    }
}

impl BuildingMap {
    /// Parses a building file (see the module docs). Rejects the whole file when any row is bad.
    pub fn parse(text: &str) -> Result<BuildingMap, BuildingFileError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut tsv: Option<bool> = None;
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.trim().is_empty() {
                continue;
            }
            let is_tsv = *tsv.get_or_insert_with(|| raw.contains('\t'));
            let fields = if is_tsv {
                raw.split('\t').map(str::to_owned).collect()
            } else {
                match split_csv(raw) {
                    Ok(f) => f,
                    Err(message) => {
                        errors.push(RowError { line, message });
                        continue;
                    }
                }
            };
            if fields.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            match parse_row(&fields, line) {
                Ok(b) => rows.push(b),
                Err(message) => errors.push(RowError { line, message }),
            }
        }
        let mut map = BuildingMap::default();
        for b in rows {
            let k = (b.network.addr, b.network.prefix);
            if let Some(&j) = map.index.get(&k) {
                let other = &map.rows[j];
                errors.push(RowError {
                    line: b.line,
                    message: format!(
                        "network {} overlaps line {} (the same network: {} {} on line {}, {} {} on line {})",
                        b.network,
                        other.line,
                        other.network,
                        describe(other),
                        other.line,
                        b.network,
                        describe(&b),
                        b.line
                    ),
                });
                continue;
            }
            map.index.insert(k, map.rows.len());
            if !map.prefixes.contains(&b.network.prefix) {
                map.prefixes.push(b.network.prefix);
            }
            map.rows.push(b);
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.line);
            return Err(BuildingFileError { errors });
        }
        map.prefixes.sort_unstable_by(|a, b| b.cmp(a));
        Ok(map)
    }

    /// The rows, in file order.
    pub fn buildings(&self) -> &[Building] {
        &self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The most specific row whose range contains `subnet_or_ip` (`10.0.1.0`, `10.0.1.7`, or
    /// `10.0.1.0/24`; with a prefix, only rows at least as wide as that subnet match). `None` for IPv6,
    /// unparseable text, or no covering row.
    pub fn lookup(&self, subnet_or_ip: &str) -> Option<&Building> {
        let (addr, max_prefix) = parse_subnet(subnet_or_ip)?;
        let a = u32::from(addr);
        self.prefixes
            .iter()
            .filter(|p| max_prefix.is_none_or(|m| **p <= m))
            .find_map(|&p| self.index.get(&(a & mask(p), p)))
            .map(|&i| &self.rows[i])
    }

    /// The row covering an endpoint: looked up by its `subnet`, or by its `ipAddress` only when the
    /// `subnet` is ABSENT (call-quality.md: "by its `subnet` (or by its `ipAddress` when `subnet` is
    /// absent)"). A subnet that no row covers is not rescued by the IP address: CQD joins on the subnet,
    /// and such a subnet is what its Missing Subnet report lists.
    pub fn lookup_endpoint(&self, e: &EndpointSlicers) -> Option<&Building> {
        match (e.subnet.as_deref(), e.ip_address.as_deref()) {
            (Some(s), _) => self.lookup(s),
            (None, Some(ip)) => self.lookup(ip),
            (None, None) => None,
        }
    }

    /// Fills building, inside/outside corp, VPN and ExpressRoute of one endpoint's slicers from the row
    /// [`BuildingMap::lookup_endpoint`] finds. An empty or missing `VPN` column reads as 0 (CQD: "The VPN
    /// column is optional and will default to 0"). Without a covering row: no building, Outside,
    /// VPN/ExpressRoute unknown.
    pub fn apply(&self, e: &mut EndpointSlicers) {
        match self.lookup_endpoint(e) {
            Some(b) => {
                e.corp = if b.inside_corp {
                    Corp::Inside
                } else {
                    Corp::Outside
                };
                e.vpn = Some(b.vpn.unwrap_or(false));
                e.express_route = Some(b.express_route);
                e.building = Some(b.clone());
            }
            None => {
                e.corp = Corp::Outside;
                e.vpn = None;
                e.express_route = None;
                e.building = None;
            }
        }
    }

    /// [`BuildingMap::apply`] to every stream and session row.
    pub fn apply_rows(&self, rows: &mut crate::RecordRows) {
        for r in &mut rows.streams {
            self.apply(&mut r.endpoint);
        }
        for r in &mut rows.sessions {
            self.apply(&mut r.endpoint);
        }
    }
}

/// CQD's Missing Subnet report: audio streams per endpoint subnet that no building row covers. Feed rows
/// of the latest record versions; memory grows with the number of distinct uncovered subnets.
#[derive(Debug, Clone, Default)]
pub struct MissingSubnets {
    counts: HashMap<String, u64>,
}

/// One line of the Missing Subnet report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingSubnet {
    /// The endpoint's `subnet` (else its IP address) as received.
    pub subnet: String,
    pub audio_streams: u64,
}

impl MissingSubnets {
    pub fn new() -> Self {
        MissingSubnets::default()
    }

    /// Counts the audio streams of `rows` whose endpoint (the row's side, see [`crate::rows`]) no row of
    /// `map` covers. Streams without any subnet or IP are not counted.
    pub fn add_rows(&mut self, rows: &crate::RecordRows, map: &BuildingMap) {
        for r in rows
            .streams
            .iter()
            .filter(|r| r.kind == crate::MediaKind::Audio)
        {
            let e = &r.endpoint;
            let Some(subnet) = e.subnet.as_deref().or(e.ip_address.as_deref()) else {
                continue;
            };
            if map.lookup_endpoint(e).is_none() {
                *self.counts.entry(subnet.to_owned()).or_default() += 1;
            }
        }
    }

    /// Subnets with at least `min_audio_streams` (CQD: 10) audio streams, most streams first.
    pub fn finish(self, min_audio_streams: u64) -> Vec<MissingSubnet> {
        let mut v: Vec<MissingSubnet> = self
            .counts
            .into_iter()
            .filter(|(_, n)| *n >= min_audio_streams)
            .map(|(subnet, audio_streams)| MissingSubnet {
                subnet,
                audio_streams,
            })
            .collect();
        v.sort_by(|a, b| {
            b.audio_streams
                .cmp(&a.audio_streams)
                .then_with(|| a.subnet.cmp(&b.subnet))
        });
        v
    }
}

fn describe(b: &Building) -> String {
    if b.building_name.is_empty() {
        format!("({:?})", b.network_name)
    } else {
        format!("({:?})", b.building_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CSV15: &str = "10.0.0.0,HQ-Net,16,Contoso HQ,Contoso,Office,Engineering,Seattle,98052,US,WA,NA,1,0,0\n\
                         10.0.1.0,HQ-B1,24,Building 1,Contoso,Office,Sales,Seattle,98052,US,WA,NA,1,1,\n\
                         192.168.5.0,VPN pool,24,VPN,Contoso,Remote,None,Redmond,98052,US,WA,NA,1,0,1\n";

    #[test]
    fn csv_15_columns_and_most_specific_match() {
        let m = BuildingMap::parse(CSV15).unwrap();
        assert_eq!(m.buildings().len(), 3);
        assert_eq!(m.lookup("10.0.1.0").unwrap().building_name, "Building 1");
        assert_eq!(m.lookup("10.0.1.77").unwrap().building_name, "Building 1");
        assert_eq!(m.lookup("10.0.2.0").unwrap().building_name, "Contoso HQ");
        assert_eq!(m.lookup("10.0.1.0/24").unwrap().building_name, "Building 1");
        // A /20 subnet is wider than the /24 row: only the /16 covers it.
        assert_eq!(m.lookup("10.0.0.0/20").unwrap().building_name, "Contoso HQ");
        assert!(m.lookup("10.1.0.0").is_none());
        assert!(m.lookup("fe80::1").is_none());
        assert!(m.lookup("not an ip").is_none());
        let hq = m.lookup("10.0.200.1").unwrap();
        assert_eq!(hq.vpn, Some(false));
        assert!(hq.inside_corp && !hq.express_route);
        let b1 = m.lookup("10.0.1.1").unwrap();
        assert_eq!(b1.vpn, None);
        assert!(b1.express_route);
        assert_eq!(b1.line, 2);
        assert_eq!(b1.network.to_string(), "10.0.1.0/24");
        assert_eq!(m.lookup("192.168.5.9").unwrap().vpn, Some(true));
    }

    #[test]
    fn tsv_14_columns_bom_crlf_and_quotes() {
        let tsv = "\u{feff}10.0.0.0\tHQ\t16\tContoso HQ\tContoso\tOffice\tEng\tSeattle, WA\t98052\tUS\tWA\tNA\t1\t0\r\n\r\n\
                   172.16.0.0\tLab\t12\tLab\tContoso\tLab\tEng\tRedmond\t98052\tUS\tWA\tNA\t0\t0\r\n";
        let m = BuildingMap::parse(tsv).unwrap();
        assert_eq!(m.buildings().len(), 2);
        let hq = m.lookup("10.0.3.4").unwrap();
        assert_eq!(hq.city, "Seattle, WA");
        assert_eq!(hq.vpn, None);
        assert_eq!(m.buildings()[1].line, 3);
        assert!(!m.lookup("172.20.1.1").unwrap().inside_corp);
        // CSV with a quoted comma and a quoted quote, 14 columns; an Excel trailing empty row.
        let csv = "10.2.0.0,\"Net, \"\"east\"\"\",24,East,Contoso,Office,Eng,\"Seattle, WA\",98052,US,WA,NA,1,0\n,,,,,,,,,,,,,\n";
        let m = BuildingMap::parse(csv).unwrap();
        let b = m.lookup("10.2.0.5").unwrap();
        assert_eq!(b.network_name, "Net, \"east\"");
        assert_eq!(b.city, "Seattle, WA");
        // Mixed 14- and 15-column rows in one file.
        let mixed =
            "10.0.0.0,a,16,A,o,t,ot,c,z,US,s,r,1,0\n10.1.0.0,b,16,B,o,t,ot,c,z,US,s,r,0,0,1\n";
        let m = BuildingMap::parse(mixed).unwrap();
        assert_eq!(m.lookup("10.1.1.1").unwrap().vpn, Some(true));
        assert_eq!(m.lookup("10.0.1.1").unwrap().vpn, None);
    }

    #[test]
    fn overlap_names_both_rows() {
        let csv = "10.0.0.0,a,16,A,o,t,ot,c,z,US,s,r,1,0\n\
                   10.0.1.0,b,24,B,o,t,ot,c,z,US,s,r,1,0\n\
                   10.0.1.9,c,24,C,o,t,ot,c,z,US,s,r,1,0\n";
        let e = BuildingMap::parse(csv).unwrap_err();
        assert_eq!(e.errors.len(), 1);
        assert_eq!(e.errors[0].line, 3);
        let msg = e.to_string();
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("overlaps line 2"), "{msg}");
        assert!(msg.contains("10.0.1.0/24"), "{msg}");
        assert!(msg.contains("\"B\"") && msg.contains("\"C\""), "{msg}");
        // Exact duplicates too.
        let dup = "10.0.0.0,a,16,A,o,t,ot,c,z,US,s,r,1,0\n10.0.0.0,a,16,A,o,t,ot,c,z,US,s,r,1,0\n";
        let e = BuildingMap::parse(dup).unwrap_err();
        assert_eq!(e.errors[0].line, 2);
        assert!(e.errors[0].message.contains("overlaps line 1"));
    }

    #[test]
    fn bad_rows_are_all_reported() {
        let csv = "10.0.0.0,a,16,A,o,t,ot,c,z,US,s,r,1,0\n\
                   10.0.0.0,a,16,A,o,t\n\
                   10.0.0,a,16,A,o,t,ot,c,z,US,s,r,1,0\n\
                   2001:db8::,a,16,A,o,t,ot,c,z,US,s,r,1,0\n\
                   10.5.0.0,a,7,A,o,t,ot,c,z,US,s,r,1,0\n\
                   10.6.0.0,a,29,A,o,t,ot,c,z,US,s,r,1,0\n\
                   10.7.0.0,a,x,A,o,t,ot,c,z,US,s,r,1,0\n\
                   10.8.0.0,a,16,A,o,t,ot,c,z,US,s,r,yes,2,x\n\
                   10.9.0.0,\"a,16,A,o,t,ot,c,z,US,s,r,1,0\n\
                   10.10.0.0,a,16,A,o,t,ot,c,z,US,s,r,1,0,0,extra\n";
        let e = BuildingMap::parse(csv).unwrap_err();
        let lines: Vec<_> = e.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let m: Vec<_> = e.errors.iter().map(|e| e.message.as_str()).collect();
        assert!(m[0].contains("found 6"), "{}", m[0]);
        assert!(m[1].contains("not an IPv4 address"), "{}", m[1]);
        assert!(m[2].contains("IPv6"), "{}", m[2]);
        assert!(m[3].contains("outside 8–28"), "{}", m[3]);
        assert!(m[4].contains("outside 8–28"), "{}", m[4]);
        assert!(m[5].contains("not a prefix length"), "{}", m[5]);
        assert!(
            m[6].contains("InsideCorp") && m[6].contains("ExpressRoute") && m[6].contains("VPN"),
            "{}",
            m[6]
        );
        assert!(m[7].contains("unterminated"), "{}", m[7]);
        assert!(m[8].contains("found 16"), "{}", m[8]);
        // Prefixes 8 and 28 are the accepted bounds.
        let ok = "10.0.0.0,a,8,A,o,t,ot,c,z,US,s,r,1,0\n10.0.0.16,a,28,B,o,t,ot,c,z,US,s,r,1,0\n";
        let m = BuildingMap::parse(ok).unwrap();
        assert_eq!(m.lookup("10.0.0.17").unwrap().building_name, "B");
        assert_eq!(m.lookup("10.0.0.32").unwrap().building_name, "A");
    }

    #[test]
    fn empty_file_maps_nothing_and_everything_is_outside() {
        let m = BuildingMap::parse("").unwrap();
        assert!(m.is_empty());
        let mut e = EndpointSlicers {
            subnet: Some("10.0.0.0".into()),
            corp: Corp::Inside,
            ..EndpointSlicers::default()
        };
        m.apply(&mut e);
        assert_eq!(e.corp, Corp::Outside);
        assert!(e.building.is_none());
    }

    #[test]
    fn apply_uses_subnet_then_ip() {
        let m = BuildingMap::parse(CSV15).unwrap();
        let mut e = EndpointSlicers {
            subnet: None,
            ip_address: Some("10.0.1.200".into()),
            ..EndpointSlicers::default()
        };
        m.apply(&mut e);
        assert_eq!(e.corp, Corp::Inside);
        assert_eq!(e.building.as_ref().unwrap().building_name, "Building 1");
        // The row's VPN column is empty: CQD's default 0.
        assert_eq!(e.vpn, Some(false));
        assert_eq!(e.express_route, Some(true));
        e.subnet = Some("192.168.5.0".into());
        m.apply(&mut e);
        assert_eq!(e.building.as_ref().unwrap().building_name, "VPN");
        assert_eq!(e.vpn, Some(true));
        // A subnet is present but no row covers it: the (covered) IP address does not count.
        e.subnet = Some("172.31.0.0".into());
        e.ip_address = Some("10.0.1.7".into());
        m.apply(&mut e);
        assert!(e.building.is_none());
        assert_eq!(e.corp, Corp::Outside);
        assert_eq!((e.vpn, e.express_route), (None, None));
        // An explicit null subnet is absent: the IP decides.
        let mut e: EndpointSlicers = EndpointSlicers {
            ip_address: Some("10.0.1.7".into()),
            ..EndpointSlicers::default()
        };
        m.apply(&mut e);
        assert_eq!(e.building.as_ref().unwrap().building_name, "Building 1");
    }

    #[test]
    fn missing_subnets_report() {
        let map = BuildingMap::parse("10.0.0.0,a,16,A,o,t,ot,c,z,US,s,r,1,0\n").unwrap();
        let mut rows = crate::RecordRows::default();
        let row = |subnet: Option<&str>, ip: Option<&str>, label: &str| {
            let rec: callrecords_model::CallRecord = serde_json::from_value(serde_json::json!({
                "id": "r", "version": 1,
                "sessions": [{"id": "s", "segments": [{"id": "g", "media": [{
                    "label": label,
                    "callerNetwork": {"subnet": subnet, "ipAddress": ip},
                    "streams": [{"streamDirection": "callerToCallee"}]}]}]}]
            }))
            .unwrap();
            crate::stream_rows(&rec, 1).remove(0)
        };
        for _ in 0..10 {
            rows.streams
                .push(row(Some("192.168.1.0"), None, "main-audio"));
            rows.streams.push(row(Some("10.0.5.0"), None, "main-audio"));
            rows.streams
                .push(row(Some("192.168.9.0"), None, "main-video"));
        }
        for _ in 0..12 {
            rows.streams
                .push(row(None, Some("172.16.0.9"), "main-audio"));
        }
        for _ in 0..9 {
            rows.streams
                .push(row(Some("192.168.2.0"), None, "main-audio"));
        }
        // The subnet is not covered but the IP is: still missing (the subnet decides when present).
        for _ in 0..10 {
            rows.streams
                .push(row(Some("192.168.3.0"), Some("10.0.0.1"), "main-audio"));
        }
        // No subnet, the IP is covered: covered.
        for _ in 0..10 {
            rows.streams.push(row(None, Some("10.0.0.1"), "main-audio"));
        }
        let mut m = MissingSubnets::new();
        m.add_rows(&rows, &map);
        let report = m.finish(10);
        assert_eq!(
            report,
            vec![
                MissingSubnet {
                    subnet: "172.16.0.9".into(),
                    audio_streams: 12
                },
                MissingSubnet {
                    subnet: "192.168.1.0".into(),
                    audio_streams: 10
                },
                MissingSubnet {
                    subnet: "192.168.3.0".into(),
                    audio_streams: 10
                },
            ]
        );
    }

    proptest! {
        /// Lookup returns the longest covering prefix, as a brute-force scan does.
        #[test]
        fn lookup_is_longest_prefix(nets in proptest::collection::vec((any::<u32>(), 8u8..=28), 1..40),
                                    probes in proptest::collection::vec(any::<u32>(), 1..40)) {
            let mut seen = std::collections::HashSet::new();
            let mut text = String::new();
            // Keep addresses in a small space so that nesting happens.
            for (a, p) in nets {
                let a = 0x0a00_0000 | (a & 0x000f_ffff);
                let n = Ipv4Net::new(Ipv4Addr::from(a), p);
                if seen.insert(n) {
                    text.push_str(&format!("{},n,{p},B{n},o,t,ot,c,z,US,s,r,1,0\n", Ipv4Addr::from(a)));
                }
            }
            let m = BuildingMap::parse(&text).unwrap();
            for probe in probes {
                let ip = Ipv4Addr::from(0x0a00_0000 | (probe & 0x000f_ffff));
                let want = m.buildings().iter().filter(|b| b.network.contains(ip)).max_by_key(|b| b.network.prefix);
                prop_assert_eq!(m.lookup(&ip.to_string()), want);
            }
        }
    }
}
