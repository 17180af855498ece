// Test seam for the spool's error paths: the next `n` fdatasync calls on the current segment
// fail as if the disk had reported EIO. Process-wide; implemented in queue.cpp.
// Must not be called by production code.
#pragma once

namespace gatehouse::queue::detail {

void inject_sync_failures(int n);
bool consume_injected_sync_failure();

}  // namespace gatehouse::queue::detail
