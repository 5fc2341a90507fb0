//! The schema of `microsoft.graph.callRecords` (and the root types it uses) as data: what validation,
//! rendering and `$metadata` walk. Generated from Microsoft's CSDL (see `codegen/gen_model.py`).

use std::collections::HashMap;
use std::sync::OnceLock;

pub use crate::generated::{ENUMS, TYPES};

/// Namespace of the call-records types.
pub const CALL_RECORDS_NS: &str = "microsoft.graph.callRecords";

/// Entity or complex type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    /// An entity type (has a key, addressable).
    Entity,
    /// A complex (structured value) type.
    Complex,
}

/// One enumeration.
#[derive(Debug)]
pub struct EnumDef {
    /// `microsoft.graph.callRecords` or `microsoft.graph`.
    pub namespace: &'static str,
    /// Unqualified name, e.g. `productFamily`.
    pub name: &'static str,
    /// Members in schema order; a member's numeric value is its index.
    pub members: &'static [&'static str],
    /// Exists only in beta.
    pub beta_only: bool,
}

impl EnumDef {
    /// `namespace.name`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.namespace, self.name)
    }
    /// Index of `unknownFutureValue`, if the enum is evolvable.
    pub fn sentinel(&self) -> Option<usize> {
        self.members.iter().position(|m| *m == "unknownFutureValue")
    }
    /// Whether `member` comes after the `unknownFutureValue` sentinel (shown only on request).
    pub fn is_after_sentinel(&self, member: &str) -> bool {
        match (
            self.sentinel(),
            self.members.iter().position(|m| *m == member),
        ) {
            (Some(s), Some(i)) => i > s,
            _ => false,
        }
    }
}

/// One property of a structured type.
#[derive(Debug)]
pub struct PropDef {
    /// JSON name, exactly as Graph spells it.
    pub name: &'static str,
    /// Qualified element type (`Edm.String`, `microsoft.graph.callRecords.modality`, …).
    pub ty: &'static str,
    /// `Collection(ty)`.
    pub collection: bool,
    /// CSDL `Nullable` (true unless `Nullable="false"`).
    pub nullable: bool,
    /// A (contained) navigation property.
    pub navigation: bool,
    /// Exists only in beta.
    pub beta_only: bool,
}

/// One entity or complex type, with its own (not inherited) properties.
#[derive(Debug)]
pub struct TypeDef {
    /// Namespace.
    pub namespace: &'static str,
    /// Unqualified name.
    pub name: &'static str,
    /// Entity or complex.
    pub kind: TypeKind,
    /// Qualified base type.
    pub base: Option<&'static str>,
    /// Abstract.
    pub is_abstract: bool,
    /// Open type (dynamic properties allowed).
    pub is_open: bool,
    /// Exists only in beta.
    pub beta_only: bool,
    /// Own properties in schema order.
    pub properties: &'static [PropDef],
}

impl TypeDef {
    /// `namespace.name`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.namespace, self.name)
    }
}

struct Index {
    types: HashMap<String, &'static TypeDef>,
    enums: HashMap<String, &'static EnumDef>,
    /// Own and inherited properties by type.
    props: HashMap<String, HashMap<&'static str, &'static PropDef>>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let types: HashMap<String, &'static TypeDef> =
            TYPES.iter().map(|t| (t.qualified(), t)).collect();
        let enums = ENUMS.iter().map(|e| (e.qualified(), e)).collect();
        let mut props = HashMap::new();
        for t in TYPES {
            let mut all = HashMap::new();
            let mut cur = Some(t);
            let mut guard = 0;
            while let Some(ty) = cur {
                for p in ty.properties {
                    all.entry(p.name).or_insert(p);
                }
                cur = ty.base.and_then(|b| types.get(b).copied());
                guard += 1;
                if guard > 16 {
                    break;
                }
            }
            props.insert(t.qualified(), all);
        }
        Index {
            types,
            enums,
            props,
        }
    })
}

/// The type named `qualified` (`microsoft.graph.callRecords.session`).
pub fn find_type(qualified: &str) -> Option<&'static TypeDef> {
    index().types.get(qualified).copied()
}

/// The enumeration named `qualified`.
pub fn find_enum(qualified: &str) -> Option<&'static EnumDef> {
    index().enums.get(qualified).copied()
}

/// Property `name` of type `qualified`, own or inherited.
pub fn find_property(qualified: &str, name: &str) -> Option<&'static PropDef> {
    index().props.get(qualified)?.get(name).copied()
}

/// Own and inherited properties of `qualified`, base first, in schema order.
pub fn all_properties(qualified: &str) -> Vec<&'static PropDef> {
    let mut chain = Vec::new();
    let mut cur = find_type(qualified);
    while let Some(t) = cur {
        chain.push(t);
        cur = t.base.and_then(find_type);
        if chain.len() > 16 {
            break;
        }
    }
    let mut out: Vec<&'static PropDef> = Vec::new();
    for t in chain.iter().rev() {
        for p in t.properties {
            if let Some(i) = out.iter().position(|q| q.name == p.name) {
                out[i] = p;
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Whether `derived` is `base` or derives from it.
pub fn derives_from(derived: &str, base: &str) -> bool {
    let mut cur = find_type(derived);
    let mut guard = 0;
    while let Some(t) = cur {
        if t.qualified() == base {
            return true;
        }
        cur = t.base.and_then(find_type);
        guard += 1;
        if guard > 16 {
            break;
        }
    }
    false
}

/// Qualified name of a call-records type: `callRecord` → `microsoft.graph.callRecords.callRecord`.
pub fn cr(name: &str) -> String {
    format!("{CALL_RECORDS_NS}.{name}")
}
