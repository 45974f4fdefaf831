//! What a client certificate says about its holder: thumbprint, subject DN, subject alternative names.

pub mod certificate;
pub mod dn;
pub mod key_usage;
pub mod san;
pub mod thumbprint;
pub mod timestamp;
