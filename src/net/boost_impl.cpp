// The one translation unit that compiles Asio, Asio SSL and Beast; every other file sees only
// declarations because BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION are on.
// GCC 12 flags Asio's std::atomic_thread_fence under -fsanitize=thread (-Wtsan); the fence is
// Asio's, not ours, so the warning is silenced before any header can pull it in.
#if defined(__SANITIZE_THREAD__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wtsan"
#endif

#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
