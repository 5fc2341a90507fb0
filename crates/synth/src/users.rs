//! The tenant's user directory: a fixed pool of users derived from the tenant id, with their usual
//! client, machine and office network, and their JSON fragments rendered once.

use crate::enums::{client_platform as cp, product_family as pf};
use crate::json::Json;
use crate::rng::{Guid, R, guid, guid_str, hash_str, rng_for};
use rand::Rng;

const FIRST: &[&str] = &[
    "Abbie",
    "Owen",
    "Anette",
    "Daichi",
    "Richard",
    "Ruwini",
    "Andre",
    "Adele",
    "Alex",
    "Allan",
    "Bianca",
    "Brian",
    "Camille",
    "Carlos",
    "Chen",
    "Christie",
    "Debra",
    "Diego",
    "Elena",
    "Emily",
    "Enrico",
    "Fatima",
    "Felix",
    "Grace",
    "Hana",
    "Henrik",
    "Isaiah",
    "Ingrid",
    "Jakub",
    "Johanna",
    "Joni",
    "Kenji",
    "Kari",
    "Lee",
    "Lidia",
    "Lynne",
    "Mahesh",
    "Marta",
    "Megan",
    "Miriam",
    "Nestor",
    "Nadia",
    "Oliver",
    "Olga",
    "Patti",
    "Pradeep",
    "Priya",
    "Quentin",
    "Rafael",
    "Rosa",
    "Sakura",
    "Samuel",
    "Sofia",
    "Tomas",
    "Tanja",
    "Umar",
    "Valentina",
    "Wei",
    "Xavier",
    "Yasmin",
    "Yuki",
    "Zoe",
    "Aisha",
    "Bjorn",
    "Chloe",
    "Dmitri",
    "Esther",
    "Farid",
    "Giulia",
    "Hugo",
    "Ines",
    "Jonas",
    "Kwame",
    "Leila",
    "Mateo",
    "Noor",
    "Pavel",
    "Rahul",
    "Sven",
    "Thandiwe",
];

const LAST: &[&str] = &[
    "Wilkins",
    "Franklin",
    "Thomsen",
    "Maruyama",
    "Malk",
    "Perera",
    "Lawson",
    "Vance",
    "Wilber",
    "Deyoung",
    "Adams",
    "Johnson",
    "Garcia",
    "Nakamura",
    "Okafor",
    "Schmidt",
    "Rossi",
    "Kowalski",
    "Dubois",
    "Haddad",
    "Larsen",
    "Silva",
    "Novak",
    "Fischer",
    "Moreau",
    "Jensen",
    "Khan",
    "Patel",
    "Tanaka",
    "Kim",
    "Nguyen",
    "Cohen",
    "Moretti",
    "Eriksson",
    "Horvat",
    "Ivanova",
    "Popescu",
    "Yilmaz",
    "Mensah",
    "Mwangi",
    "Santos",
    "Herrera",
    "Lindqvist",
    "Bauer",
    "Lambert",
    "Costa",
    "Sato",
    "Zhang",
    "Wang",
    "Li",
    "Rahman",
    "Ahmed",
    "OBrien",
    "Murphy",
    "Walsh",
    "Kelly",
    "Campbell",
    "Stewart",
    "Young",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Hill",
    "Morgan",
    "Cooper",
    "Reed",
    "Bell",
    "Ward",
];

/// A client kind users can run: (platform, productFamily, headerValue, applicationVersion, weight).
pub(crate) struct Client {
    pub platform: &'static str,
    pub family: &'static str,
    pub header: &'static str,
    pub version: &'static str,
    pub mobile: bool,
    pub room: bool,
}

macro_rules! client {
    ($p:expr, $f:expr, $h:expr, $v:expr, $m:expr, $r:expr) => {
        Client {
            platform: $p,
            family: $f,
            header: $h,
            version: $v,
            mobile: $m,
            room: $r,
        }
    };
}

pub(crate) const CLIENTS: &[(Client, u32)] = &[
    (
        client!(
            cp::WINDOWS,
            pf::TEAMS,
            "Microsoft Teams/25275.1306.4018.9164 (Windows 10.0.26100; x64) SlimCore/2025.39.01.2",
            "25275.1306.4018.9164",
            false,
            false
        ),
        520,
    ),
    (
        client!(
            cp::MAC_OS,
            pf::TEAMS,
            "Microsoft Teams/25275.1306.4018.9164 (macOS 15.6.1; arm64) SlimCore/2025.39.01.2",
            "25275.1306.4018.9164",
            false,
            false
        ),
        140,
    ),
    (
        client!(
            cp::IOS,
            pf::TEAMS,
            "Teams/7.21.1 (iPhone15,3; iOS 18.6.2) SlimCore/2025.36.02.1",
            "7.21.1",
            true,
            false
        ),
        80,
    ),
    (
        client!(
            cp::ANDROID,
            pf::TEAMS,
            "Teams/1416/1.0.0.2025203802 (SM-S921B; Android 15) SlimCore/2025.36.02.1",
            "1416/1.0.0.2025203802",
            true,
            false
        ),
        70,
    ),
    (
        client!(
            cp::WEB,
            pf::TEAMS,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0 TeamsWeb/25275",
            "25275.1306.4018.9164",
            false,
            false
        ),
        60,
    ),
    (
        client!(
            cp::IP_PHONE,
            pf::TEAMS,
            "Teams IP Phone/1449/1.0.94.2025072302 (Yealink MP56; Android 9)",
            "1449/1.0.94.2025072302",
            false,
            false
        ),
        20,
    ),
    (
        client!(
            cp::ROOM_SYSTEM,
            pf::TEAMS,
            "Microsoft Teams Rooms/5.4.93.0 (Windows 10.0.22631; Lenovo ThinkSmart Core)",
            "5.4.93.0",
            false,
            true
        ),
        15,
    ),
    (
        client!(
            cp::SURFACE_HUB,
            pf::TEAMS,
            "Microsoft Teams Rooms/5.4.93.0 (Windows 10.0.22631; Surface Hub 3)",
            "5.4.93.0",
            false,
            true
        ),
        5,
    ),
    (
        client!(
            cp::WINDOWS,
            pf::SKYPE_FOR_BUSINESS,
            "UCCAPI/16.0.12527.20122 OC/16.0.12527.20194 (Skype for Business)",
            "16.0.12527.20194",
            false,
            false
        ),
        15,
    ),
    (
        client!(
            cp::ANDROID,
            pf::SKYPE_FOR_BUSINESS,
            "RTCC/7.0.0.0 UCWA/7.0.0.0 AndroidLync/6.25.0.27 (SM-G930U Android 8.0.0)",
            "6.25.0.27",
            true,
            false
        ),
        5,
    ),
];

/// An Azure Communication Services web client (productFamily after the sentinel).
pub(crate) const ACS_CLIENT: Client = client!(
    cp::WEB,
    pf::AZURE_COMMUNICATION_SERVICES,
    "azsdk-js-communication-calling/1.38.1 (javascript_calling_sdk;#clientTag:9211a3c6) Chrome/140.0.0.0",
    "1.38.1",
    false,
    false
);

/// CPU (name, cores, MHz) per client kind family.
pub(crate) const DESKTOP_CPUS: &[(&str, i64, i64)] = &[
    ("Intel(R) Core(TM) i7-1365U", 10, 1800),
    ("Intel(R) Core(TM) i5-1245U", 10, 1600),
    ("13th Gen Intel(R) Core(TM) i7-1370P", 14, 1900),
    ("Intel(R) Core(TM) Ultra 7 165U", 12, 2100),
    ("AMD Ryzen 7 PRO 7840U w/ Radeon 780M Graphics", 8, 3301),
    ("AMD EPYC 7452 32-Core Processor", 8, 2346),
    ("Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz", 2, 2594),
    ("Apple M2", 8, 3490),
    ("Apple M3 Pro", 11, 4050),
    ("Snapdragon(R) X 12-core X1E80100 @ 3.40 GHz", 12, 3417),
];
pub(crate) const MOBILE_CPUS: &[(&str, i64, i64)] = &[
    ("Apple A16 Bionic", 6, 3460),
    ("Qualcomm Snapdragon 8 Gen 3", 8, 3390),
    ("Samsung Exynos 2400", 10, 3210),
    ("MediaTek Dimensity 9200", 8, 3050),
];

pub(crate) struct User {
    pub id: Guid,
    pub display: String,
    pub upn: String,
    pub client: usize,
    pub cpu: usize,
    pub machine: String,
    /// Office subnet second and third octets: `10.{a}.{b}.0/24`.
    pub subnet: (u8, u8),
    pub host: u8,
    pub wired_share: u8,
    pub phone: String,
    pub country: &'static str,
    /// `{"id":…,"displayName":…,"tenantId":…,"userPrincipalName":…}`
    pub associated: Vec<u8>,
    /// `{"user":{"id":…,"displayName":…,"tenantId":…}}`
    pub identity_set: Vec<u8>,
    /// A participants_v2 entry.
    pub participant: Vec<u8>,
    /// organizer_v2 value.
    pub organizer_v2: Vec<u8>,
}

pub(crate) struct Directory {
    pub users: Vec<User>,
}

/// Directories built so far, per (tenant, size): a directory depends on nothing else, and building one
/// (3,000 users with their JSON fragments) costs far more than a record (~0.1 s vs ~5 ms in a debug
/// build), which made every one-record generator (`serve --fake` starts one per call) pay it again.
static SHARED: std::sync::Mutex<Vec<(String, usize, std::sync::Arc<Directory>)>> =
    std::sync::Mutex::new(Vec::new());
/// Directories kept at most (the oldest is forgotten first).
const SHARED_MAX: usize = 32;

impl Directory {
    /// The directory of `tenant_id` with `size` users, built once per process and shared.
    pub(crate) fn shared(tenant_id: &str, size: usize) -> std::sync::Arc<Directory> {
        let mut cache = SHARED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, _, d)) = cache.iter().find(|(t, n, _)| t == tenant_id && *n == size) {
            return d.clone();
        }
        // Built under the lock: concurrent first uses of one tenant build it once.
        let d = std::sync::Arc::new(Directory::new(tenant_id, size));
        if cache.len() >= SHARED_MAX {
            cache.remove(0);
        }
        cache.push((tenant_id.to_owned(), size, d.clone()));
        d
    }
}

const COUNTRIES: &[(&str, &str, u32)] = &[
    ("US", "+1425", 55),
    ("GB", "+4420", 12),
    ("DE", "+4930", 10),
    ("IN", "+9180", 9),
    ("JP", "+8135", 6),
    ("NL", "+3120", 4),
    ("BR", "+5511", 4),
];

impl Directory {
    pub(crate) fn new(tenant_id: &str, size: usize) -> Directory {
        let mut r = rng_for(hash_str(tenant_id), 0x5553_4552, 0);
        let mut users = Vec::with_capacity(size);
        let mut seen = std::collections::HashMap::<String, u32>::new();
        let client_w: Vec<u32> = CLIENTS.iter().map(|(_, w)| *w).collect();
        for i in 0..size {
            let first = FIRST[r.random_range(0..FIRST.len())];
            let last = LAST[r.random_range(0..LAST.len())];
            let display = format!("{first} {last}");
            let base = format!("{}.{}", first.to_lowercase(), last.to_lowercase());
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            let upn = if *n == 1 {
                format!("{base}@contoso.com")
            } else {
                format!("{base}{n}@contoso.com")
            };
            let id = guid(&mut r);
            let client = crate::rng::weighted(&mut r, &client_w);
            let c = &CLIENTS[client].0;
            let cpu = if c.mobile {
                r.random_range(0..MOBILE_CPUS.len())
            } else {
                r.random_range(0..DESKTOP_CPUS.len())
            };
            let machine = if c.mobile {
                format!("{first}'s phone")
            } else if c.room {
                format!(
                    "MTR-{}-{:02}",
                    ["SEA", "LON", "BER", "BLR", "TYO"][i % 5],
                    r.random_range(1..40)
                )
            } else {
                format!("DESKTOP-{:07X}", r.random_range(0..0x0FFF_FFFFu32))
            };
            let site = r.random_range(0..12u8);
            let subnet = (10 + site * 10, r.random_range(0..64u8) * 4);
            let (country, prefix) = crate::rng::pick_w(
                &mut r,
                &COUNTRIES
                    .iter()
                    .map(|(c, p, w)| ((*c, *p), *w))
                    .collect::<Vec<_>>(),
            );
            let phone = format!("{prefix}{:07}", r.random_range(1_000_000..9_999_999u32));
            let wired_share = if c.mobile {
                0
            } else if c.room {
                95
            } else {
                r.random_range(20..80)
            };
            let tenant = tenant_id;
            let idv = guid_str(&id);
            let mut j = Json::new();
            j.obj();
            j.k_str("id", idv);
            j.k_str("displayName", &display);
            j.k_str("tenantId", tenant);
            j.k_str("userPrincipalName", &upn);
            j.end_obj();
            let associated = j.buf.clone();

            j.clear();
            j.obj();
            j.key("user");
            j.obj();
            j.k_str("id", idv);
            j.k_str("displayName", &display);
            j.k_str("tenantId", tenant);
            j.end_obj();
            j.end_obj();
            let identity_set = j.buf.clone();

            j.clear();
            j.obj();
            j.k_str("id", idv);
            j.k_raw("identity", &identity_set);
            j.end_obj();
            let organizer_v2 = j.buf.clone();

            j.clear();
            j.obj();
            j.k_str("id", idv);
            j.key("identity");
            j.obj();
            for k in [
                "acsUser",
                "spoolUser",
                "phone",
                "guest",
                "encrypted",
                "onPremises",
                "acsApplicationInstance",
                "spoolApplicationInstance",
                "applicationInstance",
                "application",
                "device",
            ] {
                j.k_null(k);
            }
            j.key("user");
            j.obj();
            j.k_str("@odata.type", "#microsoft.graph.userIdentity");
            j.k_str("id", idv);
            j.k_str("displayName", &display);
            j.k_str("tenantId", tenant);
            j.k_str("userPrincipalName", &upn);
            j.end_obj();
            j.end_obj();
            j.end_obj();
            let participant = j.buf;

            users.push(User {
                id,
                display,
                upn,
                client,
                cpu,
                machine,
                subnet,
                host: r.random_range(10..250),
                wired_share,
                phone,
                country,
                associated,
                identity_set,
                participant,
                organizer_v2,
            });
        }
        Directory { users }
    }

    pub(crate) fn pick(&self, r: &mut R) -> usize {
        // Some people call a lot more than others: a mild skew towards the start of the pool.
        let n = self.users.len();
        let u: f64 = r.random();
        ((u * u * 0.5 + u * 0.5) * n as f64) as usize % n
    }
}
