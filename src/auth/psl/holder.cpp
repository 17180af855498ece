// psl::Holder: the current Public Suffix List, shared between threads and swapped in one step on
// reload (the publish pattern of architecture.md §1 item 3). Readers take a shared_ptr and keep
// using that list; a reload never changes a list someone holds.
// Must not: block readers for longer than the pointer swap, or hand out a null list.
#include <utility>

#include "gatehouse/auth/psl.hpp"

namespace gatehouse::auth::psl {

Holder::Holder() : list_(std::make_shared<const List>()) {}

Holder::Holder(List list) : list_(std::make_shared<const List>(std::move(list))) {}

std::shared_ptr<const List> Holder::get() const { return list_.load(std::memory_order_acquire); }

void Holder::set(List list) { set(std::make_shared<const List>(std::move(list))); }

void Holder::set(std::shared_ptr<const List> list) {
  if (!list) return;
  list_.store(std::move(list), std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

std::uint64_t Holder::generation() const { return generation_.load(std::memory_order_acquire); }

}  // namespace gatehouse::auth::psl
