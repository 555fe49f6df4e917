//! `src/schema.txt` must describe the message types exactly: this test
//! renders the description from the types (through `serde-reflection`) and
//! fails with the new text when they differ.

use serde_reflection::{ContainerFormat, Format, Named, Tracer, TracerConfig, VariantFormat};
use spinel_debug_protocol::schema::fnv1a64;
use spinel_debug_protocol::{
    AgentMessage, Arch, ArchFacts, BreakpointLocation, Command, ErrorCode, Event, FrameFault,
    HostMessage, Reply, SCHEMA, SCHEMA_HASH, ThreadState,
};

fn format(f: &Format) -> String {
    match f {
        Format::TypeName(name) => name.clone(),
        Format::Unit => "()".into(),
        Format::Bool => "bool".into(),
        Format::I8 => "i8".into(),
        Format::I16 => "i16".into(),
        Format::I32 => "i32".into(),
        Format::I64 => "i64".into(),
        Format::I128 => "i128".into(),
        Format::U8 => "u8".into(),
        Format::U16 => "u16".into(),
        Format::U32 => "u32".into(),
        Format::U64 => "u64".into(),
        Format::U128 => "u128".into(),
        Format::F32 => "f32".into(),
        Format::F64 => "f64".into(),
        Format::Char => "char".into(),
        Format::Str => "str".into(),
        Format::Bytes => "bytes".into(),
        Format::Option(inner) => format!("option<{}>", format(inner)),
        Format::Seq(inner) => format!("seq<{}>", format(inner)),
        Format::Map { key, value } => format!("map<{}, {}>", format(key), format(value)),
        Format::Tuple(items) => {
            let items: Vec<_> = items.iter().map(format).collect();
            format!("({})", items.join(", "))
        }
        Format::TupleArray { content, size } => format!("[{}; {size}]", format(content)),
        Format::Variable(_) => panic!("a type was not fully traced"),
    }
}

fn fields(fields: &[Named<Format>]) -> String {
    let fields: Vec<_> = fields
        .iter()
        .map(|field| format!("{}: {}", field.name, format(&field.value)))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

/// The description: one line per struct, one line per enum variant.
fn render() -> String {
    let mut tracer = Tracer::new(TracerConfig::default());
    // Every enum is traced on its own so that all its variants are seen.
    tracer.trace_simple_type::<HostMessage>().unwrap();
    tracer.trace_simple_type::<AgentMessage>().unwrap();
    tracer.trace_simple_type::<Command>().unwrap();
    tracer.trace_simple_type::<Reply>().unwrap();
    tracer.trace_simple_type::<Event>().unwrap();
    tracer.trace_simple_type::<ArchFacts>().unwrap();
    tracer.trace_simple_type::<FrameFault>().unwrap();
    tracer.trace_simple_type::<ThreadState>().unwrap();
    tracer.trace_simple_type::<ErrorCode>().unwrap();
    tracer.trace_simple_type::<BreakpointLocation>().unwrap();
    tracer.trace_simple_type::<Arch>().unwrap();
    let registry = tracer.registry().unwrap();
    let mut out = String::new();
    for (name, container) in &registry {
        match container {
            ContainerFormat::UnitStruct => out += &format!("{name} = struct\n"),
            ContainerFormat::NewTypeStruct(inner) => {
                out += &format!("{name} = newtype({})\n", format(inner))
            }
            ContainerFormat::TupleStruct(items) => {
                let items: Vec<_> = items.iter().map(format).collect();
                out += &format!("{name} = tuple({})\n", items.join(", "));
            }
            ContainerFormat::Struct(named) => {
                out += &format!("{name} = struct {}\n", fields(named))
            }
            ContainerFormat::Enum(variants) => {
                out += &format!("{name} = enum\n");
                for (index, variant) in variants {
                    let body = match &variant.value {
                        VariantFormat::Unit => String::new(),
                        VariantFormat::NewType(inner) => format!("({})", format(inner)),
                        VariantFormat::Tuple(items) => {
                            let items: Vec<_> = items.iter().map(format).collect();
                            format!("({})", items.join(", "))
                        }
                        VariantFormat::Struct(named) => format!(" {}", fields(named)),
                        VariantFormat::Variable(_) => panic!("variant not traced"),
                    };
                    out += &format!("    {index} {}{body}\n", variant.name);
                }
            }
        }
    }
    out
}

#[test]
fn schema_txt_describes_the_types() {
    let rendered = render();
    if rendered != SCHEMA {
        panic!(
            "the message types changed but src/schema.txt did not.\n\
             Replace src/schema.txt with the text below (and bump PROTOCOL_VERSION \
             if old peers could misread the new messages):\n\n{rendered}"
        );
    }
}

#[test]
fn hash_is_of_the_description() {
    assert_eq!(SCHEMA_HASH, fnv1a64(SCHEMA.as_bytes()));
    assert!(
        SCHEMA.contains(
            "Hello = struct { magic: u32, version: u16, schema_hash: u64, software: str }"
        )
    );
}

#[test]
fn frozen_variants_stay_first() {
    assert!(SCHEMA.contains("HostMessage = enum\n    0 Hello(Hello)\n"));
    assert!(SCHEMA.contains("AgentMessage = enum\n    0 Hello(Hello)\n    1 Refused(Refusal)\n"));
    assert!(SCHEMA.contains("Refusal = struct { reason: str }"));
}
