//! `$metadata`: a CSDL (OData 4.0 XML) document generated from `callrecords_model::schema`, one per version
//! (beta adds the beta-only types, properties, enums and functions), with the `communications` singleton so
//! that OData tools can discover the call-records types. Built once per version and cached.

use std::fmt::Write as _;
use std::sync::OnceLock;

use callrecords_model::LogKind;
use callrecords_model::schema::{ENUMS, TYPES, TypeKind};

use super::Version;

const ROOT_NS: &str = "microsoft.graph";
const CR_NS: &str = "microsoft.graph.callRecords";

/// The CSDL document for `ver`.
pub(crate) fn document(ver: Version) -> &'static str {
    static V1: OnceLock<String> = OnceLock::new();
    static BETA: OnceLock<String> = OnceLock::new();
    match ver {
        Version::V1 => V1.get_or_init(|| build(false)),
        Version::Beta => BETA.get_or_init(|| build(true)),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn schema(out: &mut String, ns: &str, beta: bool) {
    let _ = writeln!(
        out,
        r#"    <Schema Namespace="{ns}" xmlns="http://docs.oasis-open.org/odata/ns/edm">"#
    );
    for e in ENUMS
        .iter()
        .filter(|e| e.namespace == ns && (beta || !e.beta_only))
    {
        let _ = writeln!(out, r#"      <EnumType Name="{}">"#, esc(e.name));
        for (i, m) in e.members.iter().enumerate() {
            let _ = writeln!(out, r#"        <Member Name="{}" Value="{i}"/>"#, esc(m));
        }
        out.push_str("      </EnumType>\n");
    }
    for t in TYPES
        .iter()
        .filter(|t| t.namespace == ns && (beta || !t.beta_only))
    {
        let tag = match t.kind {
            TypeKind::Entity => "EntityType",
            TypeKind::Complex => "ComplexType",
        };
        let _ = write!(out, r#"      <{tag} Name="{}""#, esc(t.name));
        if let Some(b) = t.base {
            let _ = write!(out, r#" BaseType="{}""#, esc(b));
        }
        if t.is_abstract {
            out.push_str(r#" Abstract="true""#);
        }
        if t.is_open {
            out.push_str(r#" OpenType="true""#);
        }
        out.push_str(">\n");
        if t.kind == TypeKind::Entity && t.base.is_none() {
            out.push_str("        <Key>\n          <PropertyRef Name=\"id\"/>\n        </Key>\n");
        }
        for p in t.properties.iter().filter(|p| beta || !p.beta_only) {
            let ty = if p.collection {
                format!("Collection({})", p.ty)
            } else {
                p.ty.to_owned()
            };
            if p.navigation {
                let _ = write!(
                    out,
                    r#"        <NavigationProperty Name="{}" Type="{}" ContainsTarget="true""#,
                    esc(p.name),
                    esc(&ty)
                );
                if p.name == "organizer_v2" {
                    out.push_str(">\n          <Annotation Term=\"Org.OData.Core.V1.AutoExpand\" Bool=\"true\"/>\n        </NavigationProperty>\n");
                } else {
                    out.push_str("/>\n");
                }
            } else {
                let _ = write!(
                    out,
                    r#"        <Property Name="{}" Type="{}""#,
                    esc(p.name),
                    esc(&ty)
                );
                if !p.nullable {
                    out.push_str(r#" Nullable="false""#);
                }
                if p.ty == "Edm.Decimal" {
                    out.push_str(r#" Scale="variable""#);
                }
                out.push_str("/>\n");
            }
        }
        let _ = writeln!(out, "      </{tag}>");
    }
    if ns == ROOT_NS {
        out.push_str(concat!(
            "      <EntityType Name=\"cloudCommunications\" BaseType=\"microsoft.graph.entity\">\n",
            "        <NavigationProperty Name=\"callRecords\" Type=\"Collection(microsoft.graph.callRecords.callRecord)\" ContainsTarget=\"true\"/>\n",
            "      </EntityType>\n",
            "      <EntityContainer Name=\"GraphService\">\n",
            "        <Singleton Name=\"communications\" Type=\"microsoft.graph.cloudCommunications\"/>\n",
            "      </EntityContainer>\n",
        ));
    } else {
        for k in LogKind::ALL.into_iter().filter(|k| beta || k.in_v1()) {
            let _ = write!(
                out,
                concat!(
                    "      <Function Name=\"{name}\" IsBound=\"true\">\n",
                    "        <Parameter Name=\"bindingParameter\" Type=\"Collection(microsoft.graph.callRecords.callRecord)\"/>\n",
                    "        <Parameter Name=\"fromDateTime\" Type=\"Edm.DateTimeOffset\" Nullable=\"false\"/>\n",
                    "        <Parameter Name=\"toDateTime\" Type=\"Edm.DateTimeOffset\" Nullable=\"false\"/>\n",
                    "        <ReturnType Type=\"Collection(microsoft.graph.callRecords.{ret})\"/>\n",
                    "      </Function>\n"
                ),
                name = k.function_name(),
                ret = k.type_name()
            );
        }
    }
    out.push_str("    </Schema>\n");
}

fn build(beta: bool) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str(
        "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n",
    );
    out.push_str("  <edmx:Reference Uri=\"https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml\">\n    <edmx:Include Namespace=\"Org.OData.Core.V1\" Alias=\"Core\"/>\n  </edmx:Reference>\n");
    out.push_str("  <edmx:DataServices>\n");
    schema(&mut out, ROOT_NS, beta);
    schema(&mut out, CR_NS, beta);
    out.push_str("  </edmx:DataServices>\n</edmx:Edmx>\n");
    out
}
