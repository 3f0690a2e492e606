// A three-stage pipeline with ordered output: one producer, N workers, one consumer.
//
// Items carry a sequence id given by the producer; the consumer sees the results in sequence
// order whatever the number of workers, so outputs do not depend on the thread count. At most
// `max_in_flight` items are between producer and consumer, which bounds memory. This is the
// shape that the stage executor grows from: each stage is a node and the queues are its edges.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace scorekit::text {

// A bounded multi-producer, multi-consumer queue. pop() returns nothing once the queue is
// closed and empty.
template <typename T>
class BoundedQueue {
public:
    explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}

    // Returns false if the queue was closed before the item could be added.
    bool push(T item) {
        std::unique_lock<std::mutex> lock(mutex_);
        not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
        if (closed_) return false;
        items_.push_back(std::move(item));
        not_empty_.notify_one();
        return true;
    }

    std::optional<T> pop() {
        std::unique_lock<std::mutex> lock(mutex_);
        not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
        if (items_.empty()) return std::nullopt;
        T item = std::move(items_.front());
        items_.pop_front();
        not_full_.notify_one();
        return item;
    }

    void close() {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
        not_empty_.notify_all();
        not_full_.notify_all();
    }

private:
    std::size_t capacity_;
    std::deque<T> items_;
    bool closed_ = false;
    std::mutex mutex_;
    std::condition_variable not_empty_, not_full_;
};

// Runs produce -> transform (on `workers` threads) -> consume (on the calling thread, in
// sequence order). `produce` fills its argument and returns false when there is no more input.
// With workers <= 1 everything runs on the calling thread. The first exception thrown by any
// stage stops the pipeline and is rethrown here.
template <typename In, typename Out>
void run_ordered_pipeline(int workers, std::size_t max_in_flight, const std::function<bool(In&)>& produce,
                          const std::function<void(In&, Out&)>& transform,
                          const std::function<void(Out&)>& consume) {
    if (workers <= 1) {
        In in;
        Out out;
        while (produce(in)) {
            out = Out();
            transform(in, out);
            consume(out);
            in = In();
        }
        return;
    }

    struct Job {
        std::uint64_t sequence;
        In in;
    };
    BoundedQueue<Job> jobs(max_in_flight);
    std::mutex done_mutex;
    std::condition_variable done_changed;
    std::map<std::uint64_t, Out> done;  // finished out of order, waiting for the consumer
    std::uint64_t produced = 0, consumed = 0;
    bool producing = true;
    std::exception_ptr failure;

    auto record_failure = [&] {
        std::lock_guard<std::mutex> lock(done_mutex);
        if (!failure) failure = std::current_exception();
        producing = false;
        done_changed.notify_all();
    };

    std::thread producer([&] {
        try {
            while (true) {
                {
                    // Wait for room: items in the queue, in work or waiting count as in flight.
                    std::unique_lock<std::mutex> lock(done_mutex);
                    done_changed.wait(lock, [&] { return failure || produced - consumed < max_in_flight; });
                    if (failure) break;
                }
                Job job{produced, In()};
                if (!produce(job.in)) break;
                {
                    std::lock_guard<std::mutex> lock(done_mutex);
                    ++produced;
                }
                if (!jobs.push(std::move(job))) break;
            }
        } catch (...) {
            record_failure();
        }
        jobs.close();
        std::lock_guard<std::mutex> lock(done_mutex);
        producing = false;
        done_changed.notify_all();
    });

    std::vector<std::thread> pool;
    for (int i = 0; i < workers; ++i) {
        pool.emplace_back([&] {
            while (auto job = jobs.pop()) {
                try {
                    Out out;
                    transform(job->in, out);
                    std::lock_guard<std::mutex> lock(done_mutex);
                    done.emplace(job->sequence, std::move(out));
                    done_changed.notify_all();
                } catch (...) {
                    record_failure();
                    jobs.close();
                }
            }
        });
    }

    try {
        while (true) {
            Out out;
            {
                std::unique_lock<std::mutex> lock(done_mutex);
                done_changed.wait(lock, [&] {
                    return failure || done.count(consumed) || (!producing && consumed == produced);
                });
                if (failure || !done.count(consumed)) break;
                auto node = done.extract(consumed);
                out = std::move(node.mapped());
            }
            consume(out);
            std::lock_guard<std::mutex> lock(done_mutex);
            ++consumed;
            done_changed.notify_all();
        }
    } catch (...) {
        record_failure();
        jobs.close();
    }

    jobs.close();
    producer.join();
    for (auto& thread : pool) thread.join();
    if (failure) std::rethrow_exception(failure);
}

}  // namespace scorekit::text
