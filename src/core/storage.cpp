#include "ember/core/storage.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace ember {

const char* device_name(Device d) {
  switch (d) {
    case Device::cpu:
      return "cpu";
  }
  return "?";
}

namespace allocator {
namespace {
// Freed blocks kept for reuse, by rounded size. Bounded so a program never hoards memory.
constexpr std::size_t kMaxCachedBytes = std::size_t{256} << 20;
constexpr std::size_t kMaxCachedBlock = std::size_t{64} << 20;

struct Cache {
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<void*>> blocks;
  std::size_t cached_bytes = 0;
  ~Cache() {
    for (auto& [size, list] : blocks)
      for (void* p : list) std::free(p);
  }
};
Cache& cache() {
  static Cache c;
  return c;
}
std::atomic<std::size_t> from_system{0};
std::size_t rounded(std::size_t nbytes) {
  const std::size_t n = nbytes == 0 ? 64 : nbytes;
  return (n + 63) / 64 * 64;
}
}  // namespace

void* allocate(std::size_t nbytes) {
  const std::size_t size = rounded(nbytes);
  if (size <= kMaxCachedBlock) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.blocks.find(size);
    if (it != c.blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached_bytes -= size;
      return p;
    }
  }
  void* p = std::aligned_alloc(64, size);
  if (!p) throw std::bad_alloc();
  from_system.fetch_add(1, std::memory_order_relaxed);
  return p;
}

std::size_t system_allocations() { return from_system.load(std::memory_order_relaxed); }

void deallocate(void* p, std::size_t nbytes) {
  if (!p) return;
  const std::size_t size = rounded(nbytes);
  if (size <= kMaxCachedBlock) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.cached_bytes + size <= kMaxCachedBytes) {
      c.blocks[size].push_back(p);
      c.cached_bytes += size;
      return;
    }
  }
  std::free(p);
}

void release_cached() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto& [size, list] : c.blocks)
    for (void* p : list) std::free(p);
  c.blocks.clear();
  c.cached_bytes = 0;
}
}  // namespace allocator

Storage::Storage(std::size_t nbytes, Device device)
    : data_(allocator::allocate(nbytes)), nbytes_(nbytes), device_(device) {}

Storage::~Storage() { allocator::deallocate(data_, nbytes_); }

}  // namespace ember
