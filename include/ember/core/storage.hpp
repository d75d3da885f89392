#pragma once
// Storage: one block of memory on one device, shared by every view of it.
#include <cstddef>
#include <memory>

namespace ember {

enum class Device { cpu };
const char* device_name(Device d);

class Storage {
 public:
  // Allocates `nbytes` (64-byte aligned) on `device`; contents are uninitialised.
  explicit Storage(std::size_t nbytes, Device device = Device::cpu);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_ = Device::cpu;
};

// The allocator behind Storage: a small cache of freed blocks by size, so a training step
// that allocates the same shapes every iteration does not go to the system each time.
namespace allocator {
void* allocate(std::size_t nbytes);
void deallocate(void* p, std::size_t nbytes);
// Frees every cached block (tests, or a program that wants its memory back).
void release_cached();
// How many blocks allocate() has taken from the system so far (a block reused from the cache is
// not counted): a training loop in its steady state adds none.
std::size_t system_allocations();
}  // namespace allocator

}  // namespace ember
