use netfn_core::config::ElementSpec;
pub static SPECS: [ElementSpec; 0] = [];
