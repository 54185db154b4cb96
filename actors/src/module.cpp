#include "lightbus/actors/module.hpp"

#include <stdexcept>

namespace lightbus {

served_api& served_api::handle(const std::string& procedure, handler_factory factory) {
  if (definition_->find_procedure(procedure) == nullptr)
    throw std::invalid_argument(definition_->name() + " declares no procedure '" + procedure
                                + "'");
  handlers_[procedure] = procedure_handler{std::move(factory), {}};
  return *this;
}

served_api& served_api::handle(const std::string& procedure, caf::actor handler) {
  if (definition_->find_procedure(procedure) == nullptr)
    throw std::invalid_argument(definition_->name() + " declares no procedure '" + procedure
                                + "'");
  handlers_[procedure] = procedure_handler{{}, std::move(handler)};
  return *this;
}

served_api& module::serve(std::shared_ptr<const api> definition) {
  for (const auto& a : apis_)
    if (a.definition()->name() == definition->name())
      throw std::invalid_argument("API '" + definition->name() + "' is served twice");
  apis_.emplace_back(std::move(definition));
  return apis_.back();
}

} // namespace lightbus
