#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>
#include <filesystem>
#include <future>
#include <unistd.h>

#include "gatehouse/queue/queue.hpp"
#include "gatehouse/service/queue_ops.hpp"
#include "gatehouse/service/registry.hpp"

using namespace gatehouse;

TEST(Registry, UnknownMethodNamesIt) {
  service::Registry r;
  auto res = r.call("nope.nothing", {});
  ASSERT_FALSE(res);
  EXPECT_NE(res.error().message.find("nope.nothing"), std::string::npos);
  auto list = r.call("system.listMethods", {});
  ASSERT_TRUE(list);
  EXPECT_NE(boost::json::serialize(*list).find("system.listMethods"), std::string::npos);
}

class QueueOps : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("gh_svc_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    queue::Options o;
    o.dir = dir;
    o.sync = false;
    q = std::move(*queue::Queue::open(o));
    service::register_queue_ops(reg, *q, [this](core::QueueId id) -> Status {
      bounced = id;
      return {};
    });
  }
  void TearDown() override {
    q.reset();
    std::filesystem::remove_all(dir);
  }
  core::QueueId add_message() {
    auto id = q->new_id();
    q->append_body(id, "Subject: x\r\n\r\nhi\r\n");
    queue::Envelope e;
    e.id = id;
    e.mail_from = "a@example.org";
    queue::RecipientState r;
    r.address = "b@example.com";
    r.domain = "example.com";
    r.next_attempt = 4'000'000'000;  // far future: not due
    e.rcpts.push_back(r);
    std::promise<Status> p;
    q->commit(e, [&](Status s) { p.set_value(s); });
    EXPECT_TRUE(p.get_future().get());
    return id;
  }
  std::filesystem::path dir;
  std::unique_ptr<queue::Queue> q;
  service::Registry reg;
  std::optional<core::QueueId> bounced;
};

TEST_F(QueueOps, ListShowRetryDeleteBounce) {
  auto id = add_message();
  auto list = reg.call("queue.list", {});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->as_array().size(), 1u);
  EXPECT_EQ(list->as_array()[0].as_object().at("id").as_string(), id.hex());

  auto show = reg.call("queue.show", {{"id", id.hex()}});
  ASSERT_TRUE(show);
  EXPECT_EQ(show->as_object().at("rcpts").as_array()[0].as_object().at("status").as_string(), "pending");

  EXPECT_FALSE(reg.call("queue.show", {{"id", "xyz"}}));
  auto missing = reg.call("queue.show", {});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("'id'"), std::string::npos);

  ASSERT_TRUE(reg.call("queue.retry", {{"id", id.hex()}}));
  EXPECT_EQ(q->take_due(4'000'000'001 - 1, 10).size(), 1u);  // retry made it due now
  q->update(id, {});  // release it again

  ASSERT_TRUE(reg.call("queue.bounce", {{"id", id.hex()}}));
  EXPECT_EQ(bounced, id);

  ASSERT_TRUE(reg.call("queue.delete", {{"id", id.hex()}}));
  EXPECT_EQ(reg.call("queue.list", {})->as_array().size(), 0u);
}
