// Queue management operations for the registry: queue.list, queue.show, queue.retry,
// queue.delete, queue.bounce. The same functions serve the CLI now and the console/API later.
#pragma once
#include <functional>

#include "gatehouse/core/ids.hpp"
#include "gatehouse/service/registry.hpp"

namespace gatehouse::queue { class Queue; }

namespace gatehouse::service {

// `bounce` asks delivery to fail every pending recipient of a message with a DSN to the sender;
// when null (offline CLI), queue.bounce is refused with a clear reason.
void register_queue_ops(Registry& r, queue::Queue& q, std::function<Status(core::QueueId)> bounce);

}  // namespace gatehouse::service
