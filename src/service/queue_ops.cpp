// queue.* operations: JSON views of the queue and the admin actions on it.
#include "gatehouse/service/queue_ops.hpp"

#include <boost/json/array.hpp>
#include <boost/json/string.hpp>
#include <chrono>
#include <fmt/format.h>

#include "gatehouse/queue/queue.hpp"

namespace gatehouse::service {

namespace {

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Expected<core::QueueId> parse_id(const Params& p) {
  auto s = get_string(p, "id");
  if (!s) return s.error();
  auto id = core::Id64::parse(*s);
  if (!id) return make_error(fmt::format("queue id '{}': expected 16 hexadecimal digits", *s));
  return *id;
}

boost::json::object summary(const queue::Envelope& e) {
  std::size_t pending = 0;
  std::int64_t next = 0;
  for (auto& r : e.rcpts)
    if (r.status == queue::RcptStatus::pending) {
      ++pending;
      if (next == 0 || r.next_attempt < next) next = r.next_attempt;
    }
  return {{"id", e.id.hex()},         {"from", e.mail_from}, {"arrival", e.arrival},
          {"size", e.body_size},      {"recipients", e.rcpts.size()}, {"pending", pending},
          {"next_attempt", next},     {"client_ip", e.client_ip}};
}

}  // namespace

void register_queue_ops(Registry& r, queue::Queue& q, std::function<Status(core::QueueId)> bounce) {
  r.add("queue.list", "messages in the queue, oldest first", [&q](const Params&) -> Expected<boost::json::value> {
    boost::json::array out;
    for (auto& e : q.list()) out.emplace_back(summary(e));
    return boost::json::value(std::move(out));
  });
  r.add("queue.show", "one message: envelope and every recipient's state (id)",
        [&q](const Params& p) -> Expected<boost::json::value> {
          auto id = parse_id(p);
          if (!id) return id.error();
          auto e = q.get(*id);
          if (!e) return make_error(fmt::format("queue id {} is not in the queue", id->hex()));
          auto o = summary(*e);
          o["helo"] = e->helo;
          o["envid"] = e->envid;
          o["ret"] = e->ret;
          o["smtputf8"] = e->smtputf8;
          boost::json::array rc;
          for (auto& x : e->rcpts)
            rc.emplace_back(boost::json::object{{"address", x.address},
                                                {"status", std::string(queue::to_string(x.status))},
                                                {"attempts", x.attempts},
                                                {"next_attempt", x.next_attempt},
                                                {"last_reply", x.last_reply}});
          o["rcpts"] = std::move(rc);
          return boost::json::value(std::move(o));
        });
  r.add("queue.retry", "try pending recipients now (id, or every message when omitted)",
        [&q](const Params& p) -> Expected<boost::json::value> {
          std::optional<core::QueueId> id;
          if (p.if_contains("id")) {
            auto parsed = parse_id(p);
            if (!parsed) return parsed.error();
            id = *parsed;
          }
          if (auto st = q.retry(id, now_unix()); !st) return st.error();
          return boost::json::value(true);
        });
  r.add("queue.delete", "remove a message without delivering it and without a DSN (id)",
        [&q](const Params& p) -> Expected<boost::json::value> {
          auto id = parse_id(p);
          if (!id) return id.error();
          if (auto st = q.remove(*id); !st) return st.error();
          return boost::json::value(true);
        });
  r.add("queue.bounce", "fail every pending recipient and send the sender a DSN (id)",
        [&q, bounce](const Params& p) -> Expected<boost::json::value> {
          auto id = parse_id(p);
          if (!id) return id.error();
          if (!q.get(*id)) return make_error(fmt::format("queue id {} is not in the queue", id->hex()));
          if (!bounce) return make_error("queue.bounce needs the running gateway (start it, then try again)");
          if (auto st = bounce(*id); !st) return st.error();
          return boost::json::value(true);
        });
}

}  // namespace gatehouse::service
