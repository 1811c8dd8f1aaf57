// A non-owning reference to a callable, for ThreadPool jobs. std::function
// copies its target and allocates once a lambda captures more than two
// pointers; a decode step makes ~100 pool calls, and decoding must not
// allocate. The referenced callable must outlive the call (pool jobs are
// synchronous, so a temporary lambda argument is fine).
#pragma once
#include <memory>
#include <type_traits>
#include <utility>

namespace gemma {

template <class Sig>
class FunctionRef;

template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef> &&
                                              std::is_invocable_r_v<R, F&, Args...>>>
  FunctionRef(F&& f) noexcept  // NOLINT: implicit, as std::function's
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* obj, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(obj))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(obj_, std::forward<Args>(args)...); }

 private:
  void* obj_;
  R (*call_)(void*, Args...);
};

}  // namespace gemma
