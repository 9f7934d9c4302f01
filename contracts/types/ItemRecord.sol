// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IProvenanceRegistry} from "../IProvenanceRegistry.sol";

/// @dev One item in one storage slot, so registration writes one new slot and every move
///      rewrites it once (read it once, change it on the stack, store it once).
///      Layout, low to high bits (the model is Uniswap v4's Slot0):
///        0–159   holder      the custodian; while InTransit, the consignee
///        160–167 status      IProvenanceRegistry.Status
///        168–175 flags       FLAG_RECALLED | FLAG_STOLEN | FLAG_CLAIMED | FLAG_CONTAINER
///                            | FLAG_PACKED
///        176–199 seq         the item's sequence number (events so far)
///        200–231 registeredAt  block timestamp of registration (seconds; fits until 2106)
///        232–255 operatorId  the operator that registered it (its brand never changes);
///                            0 for a container (case or pallet), which has no brand
type ItemRecord is uint256;

using ItemRecordLibrary for ItemRecord global;

library ItemRecordLibrary {
    uint256 private constant _ADDRESS_MASK = (1 << 160) - 1;
    uint256 private constant _STATUS_SHIFT = 160;
    uint256 private constant _FLAGS_SHIFT = 168;
    uint256 private constant _SEQ_SHIFT = 176;
    uint256 private constant _REGISTERED_AT_SHIFT = 200;
    uint256 private constant _OPERATOR_SHIFT = 232;
    uint256 private constant _BYTE_MASK = 0xff;
    uint256 private constant _SEQ_MASK = 0xffffff;

    /// @dev A freshly registered item: held by `holder`, Active, seq 1.
    function create(address holder_, uint32 registeredAt_, uint24 operatorId_) internal pure returns (ItemRecord) {
        return ItemRecord.wrap(
            uint256(uint160(holder_)) | (uint256(uint8(IProvenanceRegistry.Status.Active)) << _STATUS_SHIFT)
                | (1 << _SEQ_SHIFT) | (uint256(registeredAt_) << _REGISTERED_AT_SHIFT)
                | (uint256(operatorId_) << _OPERATOR_SHIFT)
        );
    }

    function holder(ItemRecord self) internal pure returns (address) {
        return address(uint160(ItemRecord.unwrap(self)));
    }

    function status(ItemRecord self) internal pure returns (IProvenanceRegistry.Status) {
        return IProvenanceRegistry.Status((ItemRecord.unwrap(self) >> _STATUS_SHIFT) & _BYTE_MASK);
    }

    function flags(ItemRecord self) internal pure returns (uint8) {
        return uint8(ItemRecord.unwrap(self) >> _FLAGS_SHIFT);
    }

    function seq(ItemRecord self) internal pure returns (uint24) {
        return uint24(ItemRecord.unwrap(self) >> _SEQ_SHIFT);
    }

    function registeredAt(ItemRecord self) internal pure returns (uint32) {
        return uint32(ItemRecord.unwrap(self) >> _REGISTERED_AT_SHIFT);
    }

    function operatorId(ItemRecord self) internal pure returns (uint24) {
        return uint24(ItemRecord.unwrap(self) >> _OPERATOR_SHIFT);
    }

    function withHolder(ItemRecord self, address newHolder) internal pure returns (ItemRecord) {
        return ItemRecord.wrap((ItemRecord.unwrap(self) & ~_ADDRESS_MASK) | uint256(uint160(newHolder)));
    }

    function withStatus(ItemRecord self, IProvenanceRegistry.Status newStatus) internal pure returns (ItemRecord) {
        return ItemRecord.wrap(
            (ItemRecord.unwrap(self) & ~(_BYTE_MASK << _STATUS_SHIFT))
                | (uint256(uint8(newStatus)) << _STATUS_SHIFT)
        );
    }

    function withFlags(ItemRecord self, uint8 newFlags) internal pure returns (ItemRecord) {
        return ItemRecord.wrap(
            (ItemRecord.unwrap(self) & ~(_BYTE_MASK << _FLAGS_SHIFT)) | (uint256(newFlags) << _FLAGS_SHIFT)
        );
    }

    /// @dev The record with seq + 1, and that new seq. Reverts (checked arithmetic) once an
    ///      item has 2^24 - 1 events rather than wrapping and breaking completeness proofs.
    function next(ItemRecord self) internal pure returns (ItemRecord, uint24 newSeq) {
        newSeq = self.seq() + 1;
        return (
            ItemRecord.wrap((ItemRecord.unwrap(self) & ~(_SEQ_MASK << _SEQ_SHIFT)) | (uint256(newSeq) << _SEQ_SHIFT)),
            newSeq
        );
    }
}
