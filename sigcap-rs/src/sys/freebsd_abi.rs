// FreeBSD constants for the SIGCAP patch series (kernel-patches/15.1/).
// `cargo xtask bindgen` regenerates this file from the patched headers and
// CI checks that it agrees with the series.

pub const SIGCAP: ::std::os::raw::c_int = 34;
pub const CAPV_NOTCAPABLE: ::std::os::raw::c_int = 1;
pub const CAPV_INCREASE: ::std::os::raw::c_int = 2;
pub const CAPV_SYSCALL: ::std::os::raw::c_int = 3;
pub const CAPV_SIGNAL: ::std::os::raw::c_int = 4;
pub const CAPV_PROTO: ::std::os::raw::c_int = 5;
pub const CAPV_SOCKADDR: ::std::os::raw::c_int = 6;
pub const CAPV_NAMEI: ::std::os::raw::c_int = 7;
pub const CAPV_CPUSET: ::std::os::raw::c_int = 8;
pub const TRAP_CAP: ::std::os::raw::c_int = 4;
pub const PROC_TRAPCAP_CTL: ::std::os::raw::c_int = 9;
pub const PROC_TRAPCAP_STATUS: ::std::os::raw::c_int = 10;
pub const PROC_TRAPCAP_CTL_ENABLE: ::std::os::raw::c_int = 1;
pub const PROC_TRAPCAP_CTL_DISABLE: ::std::os::raw::c_int = 2;
pub const PROC_TRAPCAP_CTL_ENABLE_SIGCAP: ::std::os::raw::c_int = 3;
