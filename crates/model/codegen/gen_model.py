#!/usr/bin/env python3
"""Generates crates/model/src/generated.rs from Microsoft's v1.0 CSDL plus the beta-only additions below.

Run from the repository root:
    python3 crates/model/codegen/gen_model.py [CSDL] > crates/model/src/generated.rs && cargo fmt --all
CSDL defaults to the in-repo copy, tests/fixtures/graph/schema/v1.0-callRecords.csdl.xml (see its NOTICE).
The output is committed; `crates/model/tests/model.rs` re-reads the CSDL and fails on any drift, so regenerate
after a schema change.
"""
import re
import sys
from pathlib import Path
import xml.etree.ElementTree as ET

NS = {"e": "http://docs.oasis-open.org/odata/ns/edm"}
ROOT = "microsoft.graph"
CR = "microsoft.graph.callRecords"

# Beta-only members (spec sections 4 and 5; the beta CSDL is not available, names come from the beta type mappings).
BETA_ENUMS = [(CR, "pstnUserBlockMode", ["blocked", "unblocked", "unknownFutureValue"])]
S = "Edm.String"
BETA_TYPES = [
    (CR, "callLogRow", None, [("administrativeUnitInfos", f"Collection({CR}.administrativeUnitInfo)"), ("id", S),
                              ("otherPartyCountryCode", S), ("userDisplayName", S), ("userId", S), ("userPrincipalName", S)]),
    (CR, "smsLogRow", f"{CR}.callLogRow", [("callCharge", "Edm.Decimal"), ("currency", S), ("destinationContext", S),
                                           ("destinationName", S), ("destinationNumber", S), ("licenseCapability", S),
                                           ("sentDateTime", "Edm.DateTimeOffset"), ("smsId", S), ("smsType", S),
                                           ("smsUnits", "Edm.Int32"), ("sourceNumber", S), ("tenantCountryCode", S),
                                           ("userCountryCode", S)]),
    (CR, "pstnBlockedUsersLogRow", None, [("blockDateTime", "Edm.DateTimeOffset"), ("blockReason", S), ("remediationId", S),
                                          ("userBlockMode", f"{CR}.pstnUserBlockMode"), ("userDisplayName", S), ("userId", S),
                                          ("userPrincipalName", S), ("userTelephoneNumber", S)]),
    (CR, "pstnOnlineMeetingDialoutReport", None, [("currency", S), ("destinationContext", S), ("totalCallCharge", "Edm.Decimal"),
                                                  ("totalCallSeconds", "Edm.Int32"), ("totalCalls", "Edm.Int32"), ("usageLocation", S),
                                                  ("userDisplayName", S), ("userId", S), ("userPrincipalName", S)]),
]
# Properties that beta adds to v1.0 types (beta derives these rows from callLogRow; we keep one flat shape).
BETA_PROPS = {
    f"{CR}.pstnCallLogRow": [("administrativeUnitInfos", f"Collection({CR}.administrativeUnitInfo)"), ("otherPartyCountryCode", S),
                             ("clientLocalIpV4Address", S), ("clientLocalIpV6Address", S),
                             ("clientPublicIpV4Address", S), ("clientPublicIpV6Address", S)],
    f"{CR}.directRoutingLogRow": [("administrativeUnitInfos", f"Collection({CR}.administrativeUnitInfo)"), ("otherPartyCountryCode", S),
                                  ("transferorCorrelationId", S), ("userCountryCode", S)],
}
# Types that are declared in the CSDL extract but not part of what this project models.
SKIP_TYPES = {f"{ROOT}.cloudCommunications"}
# Rust names where the plain PascalCase would clash or mislead.
RUST_NAMES = {
    f"{CR}.userIdentity": "CallRecordsUserIdentity",
    f"{CR}.endpoint": "PlainEndpoint",
}
# Declared types represented by hand-written polymorphic enums.
POLY = {f"{CR}.endpoint": "Endpoint", f"{CR}.userAgent": "UserAgent"}


def qualify(t, schema_ns):
    if t.startswith("Collection("):
        return "Collection(" + qualify(t[11:-1], schema_ns) + ")"
    if t.startswith("graph."):
        return ROOT + t[5:]
    return t


def pascal(name):
    return name[0].upper() + name[1:]


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = s.lower()
    return {"type": "r#type"}.get(s, s)


def main(path):
    tree = ET.parse(path)
    enums, types = [], []  # (ns, name, members, beta) / dict
    for schema in tree.getroot().iter("{%s}Schema" % NS["e"]):
        ns = schema.get("Namespace")
        for el in schema:
            tag = el.tag.split("}")[1]
            if tag == "EnumType":
                enums.append((ns, el.get("Name"), [m.get("Name") for m in el.findall("e:Member", NS)], False))
            elif tag in ("EntityType", "ComplexType"):
                q = f"{ns}.{el.get('Name')}"
                if q in SKIP_TYPES:
                    continue
                props = []
                for p in el:
                    ptag = p.tag.split("}")[1]
                    if ptag not in ("Property", "NavigationProperty"):
                        continue
                    props.append(dict(name=p.get("Name"), ty=qualify(p.get("Type"), ns),
                                      nullable=p.get("Nullable") != "false", nav=ptag == "NavigationProperty",
                                      beta=False))
                for (pn, pt) in BETA_PROPS.get(q, []):
                    props.append(dict(name=pn, ty=pt, nullable=True, nav=False, beta=True))
                base = el.get("BaseType")
                types.append(dict(ns=ns, name=el.get("Name"), kind="Entity" if tag == "EntityType" else "Complex",
                                  base=qualify(base, ns) if base else None, abstract=el.get("Abstract") == "true",
                                  open=el.get("OpenType") == "true", beta=False, props=props))
    for (ns, name, members) in BETA_ENUMS:
        enums.append((ns, name, members, True))
    for (ns, name, base, props) in BETA_TYPES:
        types.append(dict(ns=ns, name=name, kind="Complex", base=base, abstract=False, open=False, beta=True,
                          props=[dict(name=pn, ty=pt, nullable=True, nav=False, beta=True) for (pn, pt) in props]))

    by_q = {f"{t['ns']}.{t['name']}": t for t in types}
    enum_q = {f"{ns}.{n}": pascal(n) for (ns, n, _, _) in enums}

    def rust_name(q):
        return RUST_NAMES.get(q, pascal(q.rsplit(".", 1)[1]))

    def all_props(q):
        t = by_q[q]
        inherited = all_props(t["base"]) if t["base"] else []
        own_names = {p["name"] for p in t["props"]}
        return [p for p in inherited if p["name"] not in own_names] + t["props"]

    def rust_type(ty):
        if ty.startswith("Collection("):
            return f"Vec<{rust_type(ty[11:-1])}>"
        return {
            "Edm.String": "String", "Edm.Guid": "String", "Edm.Int32": "i32", "Edm.Int64": "i64",
            "Edm.Single": "f64", "Edm.Double": "f64", "Edm.Decimal": "f64", "Edm.Boolean": "bool",
            "Edm.DateTimeOffset": "DateTimeOffset", "Edm.Duration": "Duration",
        }.get(ty) or (f"Enum<{enum_q[ty]}>" if ty in enum_q else POLY.get(ty) or
                      ("ResourceData" if ty == f"{ROOT}.resourceData" else rust_name(ty)))

    out = []
    w = out.append
    w("// @generated by crates/model/codegen/gen_model.py from Microsoft's v1.0 CSDL plus the beta additions listed")
    w("// in that script. Do not edit by hand: edit the script and regenerate.")
    w("")
    w("use crate::schema::{EnumDef, PropDef, TypeDef, TypeKind};")
    w("#[allow(unused_imports)]")
    w("use crate::types::{DateTimeOffset, Duration, Endpoint, Enum, Field, ResourceData, UserAgent};")
    w("")
    w("/// Every enumeration, members in schema order.")
    w("pub static ENUMS: &[EnumDef] = &[")
    for (ns, n, members, beta) in enums:
        ms = ", ".join(f'"{m}"' for m in members)
        w(f'    EnumDef {{ namespace: "{ns}", name: "{n}", members: &[{ms}], beta_only: {str(beta).lower()} }},')
    w("];")
    w("")
    w("/// Every structured type (entity and complex), own properties only, in schema order.")
    w("pub static TYPES: &[TypeDef] = &[")
    for t in types:
        w("    TypeDef {")
        w(f'        namespace: "{t["ns"]}",')
        w(f'        name: "{t["name"]}",')
        w(f'        kind: TypeKind::{t["kind"]},')
        base = ('Some("%s")' % t["base"]) if t["base"] else "None"
        w(f'        base: {base},')
        w(f'        is_abstract: {str(t["abstract"]).lower()},')
        w(f'        is_open: {str(t["open"]).lower()},')
        w(f'        beta_only: {str(t["beta"]).lower()},')
        w("        properties: &[")
        for p in t["props"]:
            coll = p["ty"].startswith("Collection(")
            inner = p["ty"][11:-1] if coll else p["ty"]
            w(f'            PropDef {{ name: "{p["name"]}", ty: "{inner}", collection: {str(coll).lower()}, nullable: {str(p["nullable"]).lower()}, navigation: {str(p["nav"]).lower()}, beta_only: {str(p["beta"]).lower()} }},')
        w("        ],")
        w("    },")
    w("];")
    w("")
    for (ns, n, members, beta) in enums:
        w(f"graph_enum! {{")
        w(f'    /// `{ns}.{n}`{" (beta only)" if beta else ""}.')
        w(f'    {pascal(n)} = "{ns}.{n}" {{')
        for m in members:
            w(f'        {pascal(m)} = "{m}",')
        w("    }")
        w("}")
        w("")
    structs = []
    for t in types:
        q = f"{t['ns']}.{t['name']}"
        if t["abstract"] or q in (f"{ROOT}.resourceData",):
            continue
        rn = rust_name(q)
        structs.append((q, rn))
        w("graph_struct! {")
        w(f'    /// `{q}`{" (beta only)" if t["beta"] else ""}{" — open type" if t["open"] else ""}.')
        w(f'    {rn} = "{q}" {{')
        for p in all_props(q):
            w(f'        "{p["name"]}" {snake(p["name"])}: {rust_type(p["ty"])},')
        w("    }")
        w("}")
        w("")
    w("/// Parses `value` as the typed struct for `qualified_type`, then serializes it again; returns the result and")
    w("/// the names of properties the struct did not declare (kept in its `extra` bag). `None` for unknown types.")
    w("pub fn typed_round_trip(qualified_type: &str, value: serde_json::Value) -> Option<Result<(serde_json::Value, Vec<String>), serde_json::Error>> {")
    w("    fn go<T: serde::de::DeserializeOwned + serde::Serialize + crate::types::HasExtra>(v: serde_json::Value) -> Result<(serde_json::Value, Vec<String>), serde_json::Error> {")
    w("        let t: T = serde_json::from_value(v)?;")
    w("        let extra = t.extra_keys();")
    w("        Ok((serde_json::to_value(&t)?, extra))")
    w("    }")
    w("    Some(match qualified_type {")
    for (q, rn) in structs:
        if q not in POLY:
            w(f'        "{q}" => go::<{rn}>(value),')
    w(f'        "{CR}.endpoint" => go::<Endpoint>(value),')
    w(f'        "{CR}.userAgent" => go::<UserAgent>(value),')
    w("        _ => return None,")
    w("    })")
    w("}")
    return "\n".join(out) + "\n"


DEFAULT_CSDL = Path(__file__).resolve().parents[3] / "tests/fixtures/graph/schema/v1.0-callRecords.csdl.xml"

if __name__ == "__main__":
    sys.stdout.write(main(sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT_CSDL)))
