// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";
import {Errors} from "@openzeppelin/contracts/utils/Errors.sol";

/// @title Veritag's trusted forwarder
/// @notice Relays EIP-712 signed requests (`ForwardRequest`, with a per-signer nonce and a
///         deadline, in the domain "Veritag Forwarder" version "1" bound to the chain id and
///         this contract) to the registry, which trusts this forwarder alone (ERC-2771).
/// @dev OpenZeppelin 5.4's ERC2771Forwarder with one change: `execute` passes on the
///      registry's own revert data (NotCustodian, StolenItem, …) instead of `FailedCall()`,
///      so a relayer, and anyone reading the chain, learns why a relayed operation failed.
contract VeritagForwarder is ERC2771Forwarder {
    constructor() ERC2771Forwarder("Veritag Forwarder") {}

    /// @notice Execute one signed request; reverts with the target's own error if it refuses.
    function execute(ForwardRequestData calldata request) public payable override {
        if (msg.value != request.value) {
            revert ERC2771ForwarderMismatchedValue(request.value, msg.value);
        }
        if (!_execute(request, true)) {
            // The forwarded call is the last external call `_execute` makes (only the gas
            // check and an event follow it), so the return data buffer is still its revert.
            assembly ("memory-safe") {
                let size := returndatasize()
                if size {
                    let free := mload(0x40)
                    returndatacopy(free, 0, size)
                    revert(free, size)
                }
            }
            revert Errors.FailedCall();
        }
    }
}
