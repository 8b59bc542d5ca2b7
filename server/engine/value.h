// SKELETON by the lead: the condition-language owner defines the runtime Value
// here. EvalScratch must stay: per-thread reusable buffers for the
// interpreter (default-constructible, movable).
#ifndef VERDICT_SERVER_ENGINE_VALUE_H_
#define VERDICT_SERVER_ENGINE_VALUE_H_

namespace verdict::engine {

class EvalScratch {};

}  // namespace verdict::engine

#endif  // VERDICT_SERVER_ENGINE_VALUE_H_
