//! The arena entry every kernel object lives in: identity, handle count,
//! signals and observers, and the per-type body.

use alloc::vec::Vec;
use spinel_abi::{Koid, ObjectType, Signals};

use crate::channel::Channel;
use crate::exception::ExceptionObject;
use crate::job::Job;
use crate::port::Port;
use crate::process::Process;
use crate::signals::Observer;
use crate::thread::{SuspendToken, Thread};

/// The part of an object that differs per type.
#[allow(clippy::large_enum_variant)] // reason: each entry is its own arena node; boxing a thread saves nothing
#[derive(Debug)]
pub(crate) enum Body {
    Job(Job),
    Process(Process),
    Thread(Thread),
    Port(Port),
    Channel(Channel),
    Exception(ExceptionObject),
    SuspendToken(SuspendToken),
    Event,
    Vmo(alloc::sync::Arc<spinel_vm::Vmo>),
    /// A process's root VMAR; the mappings themselves live in the glue.
    Vmar {
        process: Koid,
    },
    Resource(crate::memory::ResourceKind),
}

impl Body {
    pub(crate) fn object_type(&self) -> ObjectType {
        match self {
            Body::Job(_) => ObjectType::JOB,
            Body::Process(_) => ObjectType::PROCESS,
            Body::Thread(_) => ObjectType::THREAD,
            Body::Port(_) => ObjectType::PORT,
            Body::Channel(_) => ObjectType::CHANNEL,
            Body::Exception(_) => ObjectType::EXCEPTION,
            Body::SuspendToken(_) => ObjectType::SUSPEND_TOKEN,
            Body::Event => ObjectType::EVENT,
            Body::Vmo(_) => ObjectType::VMO,
            Body::Vmar { .. } => ObjectType::VMAR,
            Body::Resource(_) => ObjectType::RESOURCE,
        }
    }
}

/// One kernel object.
#[derive(Debug)]
pub(crate) struct Entry {
    pub koid: Koid,
    /// Live [`crate::Handle`]s naming this object, wherever they are.
    pub handle_count: usize,
    /// References from other objects that keep this one in the arena
    /// (an exception object keeps its thread).
    pub kernel_refs: usize,
    pub signals: Signals,
    pub observers: Vec<Observer>,
    pub name: [u8; spinel_abi::object::MAX_NAME_LEN],
    pub body: Body,
}

impl Entry {
    pub(crate) fn new(koid: Koid, body: Body, signals: Signals) -> Self {
        Entry {
            koid,
            handle_count: 0,
            kernel_refs: 0,
            signals,
            observers: Vec::new(),
            name: [0; spinel_abi::object::MAX_NAME_LEN],
            body,
        }
    }
}
