//! The file-descriptor limit: raised at start from the soft to the hard limit, so the
//! connection cap, not the kernel, decides when connections are refused.

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit now in force
/// (`None` where it cannot be read).
pub fn raise_to_hard_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid, writable rlimit for the duration of the call.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: `raised` is a valid rlimit; the call only reads it.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        #[allow(clippy::unnecessary_cast)] // `rlim_t` is not `u64` on every unix.
        Some(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The connection cap that leaves `fd_reserve` descriptors for everything else (database,
/// event-log segments, upstream hosts, the reserved admin connections): the configured cap,
/// lowered to fit under `fd_limit` when needed (to half of it when the limit is small).
pub fn fit_connection_cap(configured: usize, fd_limit: Option<u64>, fd_reserve: u64) -> usize {
    match fd_limit {
        Some(limit) => {
            let room = if limit > fd_reserve.saturating_mul(2) {
                limit - fd_reserve
            } else {
                limit / 2
            };
            configured.min(usize::try_from(room).unwrap_or(usize::MAX))
        }
        None => configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let soft = raise_to_hard_limit().expect("readable on unix");
        assert!(soft >= 16);
        assert_eq!(raise_to_hard_limit(), Some(soft));
    }

    #[test]
    fn the_cap_fits_under_the_fd_limit() {
        assert_eq!(fit_connection_cap(20_000, Some(1_048_576), 4096), 20_000);
        assert_eq!(fit_connection_cap(20_000, Some(8192), 4096), 4096);
        assert_eq!(fit_connection_cap(20_000, Some(1024), 4096), 512);
        assert_eq!(fit_connection_cap(100, None, 4096), 100);
    }
}
