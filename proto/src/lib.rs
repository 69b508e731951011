//! keyhold's gRPC contracts: generated messages, clients and servers, and the
//! descriptor set used by reflection and by the audit hook.

use std::sync::LazyLock;

use prost_reflect::DescriptorPool;

/// The encoded `FileDescriptorSet` of every keyhold proto (and its imports).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/keyhold_descriptor.bin"));

/// The descriptor pool of [`FILE_DESCRIPTOR_SET`], decoded once.
pub fn descriptor_pool() -> &'static DescriptorPool {
    static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
        DescriptorPool::decode(FILE_DESCRIPTOR_SET).expect("the build's own descriptor set decodes")
    });
    &POOL
}

pub mod kms {
    pub mod v1 {
        tonic::include_proto!("keyhold.kms.v1");
    }
}

pub mod audit {
    pub mod v1 {
        tonic::include_proto!("keyhold.audit.v1");
    }
}

pub mod object {
    // A stream's first message (the header) is bigger than its chunks; boxing it would
    // cost an allocation per message for no gain.
    #[allow(clippy::large_enum_variant)]
    pub mod v1 {
        tonic::include_proto!("keyhold.object.v1");
    }
}
