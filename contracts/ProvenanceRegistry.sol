// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {Context} from "@openzeppelin/contracts/utils/Context.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";

import {IProvenanceRegistry} from "./IProvenanceRegistry.sol";
import {ItemRecord, ItemRecordLibrary} from "./types/ItemRecord.sol";

/// @title Veritag provenance registry
/// @notice See IProvenanceRegistry for the model. The registry admin is the Ownable2Step
///         owner, so admin rights move in two steps (transferOwnership → acceptOwnership).
///         Parties without gas act through the one trusted forwarder fixed at deployment
///         (ERC-2771): every caller below is `_msgSender()`, read once per call.
///         `multicall` (OpenZeppelin's, ERC-2771-aware) runs several calls as one
///         transaction, all or nothing: how a Merkle batch item is activated together with
///         its first action.
contract ProvenanceRegistry is IProvenanceRegistry, Ownable2Step, EIP712, ERC2771Context, Multicall {
    // Item flags, as documented in IProvenanceRegistry (kept internal: fewer selectors to
    // dispatch through on every call).
    uint8 internal constant FLAG_RECALLED = 1;
    uint8 internal constant FLAG_STOLEN = 2;
    uint8 internal constant FLAG_CLAIMED = 4;
    uint8 internal constant FLAG_CONTAINER = 8;
    uint8 internal constant FLAG_PACKED = 16;
    /// @notice Largest batch one call accepts, so one call stays well inside a 30M-gas block
    ///         (500 registrations with claim keys ≈ 23.5M gas) and cannot be used to grief.
    uint256 public constant MAX_BATCH_SIZE = 500;

    bytes32 private constant _CLAIM_TYPEHASH = keccak256("Claim(bytes32 itemId,address newOwner)");
    uint8 private constant _FROZEN = FLAG_RECALLED | FLAG_STOLEN;
    /// @dev Flags that send a move off the one-read fast path to name what is wrong.
    uint8 private constant _STUCK = _FROZEN | FLAG_PACKED;

    /// @dev admin (bits 0–159) | suspendedFrom (160–199, 0 = not suspended).
    struct Brand {
        address admin;
        uint40 suspendedFrom;
    }

    /// @dev brandId (0–31) | operatorId (32–55) | active (56) | suspendedFrom (64–103).
    ///      An account keeps its brand and id for life, so items point at the id.
    struct Operator {
        uint32 brandId;
        uint24 operatorId;
        bool active;
        uint40 suspendedFrom;
    }

    /// @dev A closed suspension: registrations in [from, until) were made while suspended.
    struct Window {
        uint40 from;
        uint40 until;
    }

    mapping(bytes32 itemId => ItemRecord) private _items;
    /// @dev The custodian of an item in transit. Left stale after receipt on purpose (it is
    ///      only read while InTransit), so the item's next shipment rewrites a non-zero slot
    ///      instead of paying for a new one.
    mapping(bytes32 itemId => address) private _shippers;
    mapping(bytes32 itemId => address) private _claimKeys;
    mapping(uint32 brandId => Brand) private _brands;
    mapping(address account => Operator) private _operators;
    mapping(uint24 operatorId => address) private _operatorAccounts;
    /// @dev Closed suspension windows, kept so that items registered inside one stay flagged
    ///      after a reinstatement. The open (current) suspension lives in Brand/Operator,
    ///      where registration reads it without touching these arrays.
    mapping(uint32 brandId => Window[]) private _pastBrandSuspensions;
    mapping(address operator => Window[]) private _pastOperatorSuspensions;
    mapping(uint32 brandId => mapping(address partner => bool)) private _partners;
    /// @dev keccak256(prefix) → owning brand. `_prefixCovered` marks every shorter prefix
    ///      of an assigned one, so no assigned prefix can extend or be extended by another.
    mapping(bytes32 prefixKey => uint32 brandId) private _prefixOwners;
    mapping(bytes32 prefixKey => uint32 brandId) private _prefixCovered;
    /// @dev Aggregation: the container a record (flag PACKED) is packed in. Deleted on unpack.
    mapping(bytes32 itemId => bytes32 containerId) private _parents;
    /// @dev Aggregation: how many containers a container holds directly (nesting rule).
    mapping(bytes32 containerId => uint256 count) private _nestedContainers;
    uint32 private _brandCount;
    uint24 private _operatorCount;

    /// @dev A Merkle batch, one slot: operatorId (0–23) | anchoredAt (24–55) | count (56–87).
    ///      `anchoredAt` is never 0 for an anchored batch, so 0 means unknown.
    struct Batch {
        uint24 operatorId;
        uint32 anchoredAt;
        uint32 count;
    }

    mapping(bytes32 root => Batch) private _batches;

    /// @param registryAdmin The first registry admin.
    /// @param forwarder The ERC-2771 forwarder that relays signed requests; fixed for life.
    constructor(address registryAdmin, address forwarder)
        Ownable(registryAdmin)
        EIP712("Veritag ProvenanceRegistry", "1")
        ERC2771Context(forwarder)
    {}

    // ─────────────────────────── governance ───────────────────────────

    /// @inheritdoc IProvenanceRegistry
    function admitBrand(address admin, string calldata name, string[] calldata prefixes)
        external
        onlyOwner
        returns (uint32 brandId)
    {
        if (admin == address(0)) revert ZeroAddress();
        brandId = ++_brandCount;
        _brands[brandId].admin = admin;
        emit BrandAdmitted(brandId, admin, name);
        for (uint256 i; i < prefixes.length; ++i) {
            _assignPrefix(brandId, prefixes[i]);
        }
    }

    /// @inheritdoc IProvenanceRegistry
    function assignPrefix(uint32 brandId, string calldata prefix) external onlyOwner {
        _requireBrand(brandId);
        _assignPrefix(brandId, prefix);
    }

    /// @inheritdoc IProvenanceRegistry
    function setBrandAdmin(uint32 brandId, address newAdmin) external {
        address previous = _requireBrand(brandId).admin;
        address sender = _msgSender();
        if (sender != previous && sender != owner()) revert NotBrandAdmin(brandId, sender);
        if (newAdmin == address(0)) revert ZeroAddress();
        _brands[brandId].admin = newAdmin;
        emit BrandAdminChanged(brandId, previous, newAdmin);
    }

    /// @inheritdoc IProvenanceRegistry
    function suspendBrand(uint32 brandId, uint40 since) external onlyOwner {
        Brand storage brand = _requireBrand(brandId);
        since = _earliest(brand.suspendedFrom, since);
        brand.suspendedFrom = since;
        emit BrandSuspended(brandId, since);
    }

    /// @inheritdoc IProvenanceRegistry
    function reinstateBrand(uint32 brandId) external onlyOwner {
        Brand storage brand = _requireBrand(brandId);
        _archiveSuspension(brand.suspendedFrom, _pastBrandSuspensions[brandId]);
        brand.suspendedFrom = 0;
        emit BrandReinstated(brandId);
    }

    /// @inheritdoc IProvenanceRegistry
    function suspendOperator(address operator, uint40 since) external {
        uint32 brandId = _requireOperatorGovernor(operator);
        Operator storage op = _operators[operator];
        since = _earliest(op.suspendedFrom, since);
        op.suspendedFrom = since;
        emit OperatorSuspended(brandId, operator, since);
    }

    /// @inheritdoc IProvenanceRegistry
    function reinstateOperator(address operator) external onlyOwner {
        Operator storage op = _operators[operator];
        if (op.brandId == 0) revert NotOperator(operator);
        _archiveSuspension(op.suspendedFrom, _pastOperatorSuspensions[operator]);
        op.suspendedFrom = 0;
        emit OperatorReinstated(op.brandId, operator);
    }

    /// @notice Disabled: a registry without an admin could never admit or suspend anyone again.
    function renounceOwnership() public pure override {
        revert RenounceDisabled();
    }

    // ─────────────────────────── brand roles ──────────────────────────

    /// @inheritdoc IProvenanceRegistry
    function addOperator(uint32 brandId, address operator) external {
        _requireBrandAdmin(brandId, _msgSender());
        if (operator == address(0)) revert ZeroAddress();
        Operator storage op = _operators[operator];
        if (op.brandId == 0) {
            uint24 operatorId = ++_operatorCount;
            op.brandId = brandId;
            op.operatorId = operatorId;
            _operatorAccounts[operatorId] = operator;
        } else if (op.brandId != brandId || op.active) {
            revert OperatorAlreadyAssigned(operator, op.brandId);
        }
        op.active = true;
        emit OperatorAdded(brandId, operator, op.operatorId);
    }

    /// @inheritdoc IProvenanceRegistry
    function removeOperator(address operator) external {
        Operator storage op = _operators[operator];
        if (!op.active) revert NotOperator(operator);
        _requireBrandAdmin(op.brandId, _msgSender());
        op.active = false;
        emit OperatorRemoved(op.brandId, operator);
    }

    /// @inheritdoc IProvenanceRegistry
    function setPartner(uint32 brandId, address partner, bool authorised) external {
        _requireBrandAdmin(brandId, _msgSender());
        if (partner == address(0)) revert ZeroAddress();
        _partners[brandId][partner] = authorised;
        emit PartnerSet(brandId, partner, authorised);
    }

    // ─────────────────────────── registration ─────────────────────────

    /// @inheritdoc IProvenanceRegistry
    function register(bytes32 itemId, bytes32 docHash, address claimKey) external {
        _register(itemId, docHash, claimKey, _msgSender());
    }

    /// @inheritdoc IProvenanceRegistry
    function registerBatch(bytes32[] calldata itemIds, bytes32 docHash) external {
        (bytes32 batchId, ItemRecord fresh) = _startBatch(itemIds, docHash);
        for (uint256 i; i < itemIds.length; ++i) {
            bytes32 itemId = itemIds[i];
            _registerItem(itemId, fresh);
            emit BatchItemRegistered(itemId, batchId);
        }
    }

    /// @inheritdoc IProvenanceRegistry
    function registerBatchWithClaimKeys(bytes32[] calldata itemIds, bytes32 docHash, address[] calldata claimKeys)
        external
    {
        if (claimKeys.length != itemIds.length) revert LengthMismatch(itemIds.length, claimKeys.length);
        (bytes32 batchId, ItemRecord fresh) = _startBatch(itemIds, docHash);
        for (uint256 i; i < itemIds.length; ++i) {
            bytes32 itemId = itemIds[i];
            _registerItem(itemId, fresh);
            address claimKey = claimKeys[i];
            if (claimKey != address(0)) _claimKeys[itemId] = claimKey;
            emit BatchItemRegistered(itemId, batchId);
        }
    }

    // ───────────────────────── Merkle batches ─────────────────────────

    /// @inheritdoc IProvenanceRegistry
    function anchorBatch(bytes32 root, uint32 count, bytes32 docHash) external {
        address sender = _msgSender();
        (uint32 brandId, uint24 operatorId) = _requireActiveOperator(sender);
        if (count == 0) revert BatchSize(0, type(uint32).max);
        if (_batches[root].anchoredAt != 0) revert BatchAlreadyAnchored(root);
        _batches[root] = Batch(operatorId, _now(), count);
        emit BatchAnchored(root, brandId, sender, docHash, count);
    }

    /// @inheritdoc IProvenanceRegistry
    function activateBatchItem(bytes32 itemId, bytes32 root, address claimKey, bytes32[] calldata proof)
        external
    {
        Batch memory batch = _batches[root];
        if (batch.anchoredAt == 0) revert UnknownBatch(root);
        // OpenZeppelin's standard leaf: the double hash keeps a 64-byte inner node from
        // passing as a leaf.
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(itemId, claimKey))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidBatchProof(itemId, root);
        // Registered as of the anchoring, by the batch's operator: suspensions that cover
        // the anchoring time flag the item as they would a plain registration then.
        address operator = _operatorAccounts[batch.operatorId];
        _registerItem(itemId, ItemRecordLibrary.create(operator, batch.anchoredAt, batch.operatorId));
        if (claimKey != address(0)) _claimKeys[itemId] = claimKey;
        emit BatchItemActivated(itemId, root);
    }

    /// @inheritdoc IProvenanceRegistry
    function getBatch(bytes32 root)
        external
        view
        returns (uint32 brandId, address operator, uint32 anchoredAt, uint32 count)
    {
        Batch memory batch = _batches[root];
        if (batch.anchoredAt == 0) return (0, address(0), 0, 0);
        operator = _operatorAccounts[batch.operatorId];
        return (_operators[operator].brandId, operator, batch.anchoredAt, batch.count);
    }

    // ───────────────────────────── custody ────────────────────────────

    /// @inheritdoc IProvenanceRegistry
    function transfer(bytes32 itemId, address to) external {
        _transfer(itemId, to, _msgSender());
    }

    /// @inheritdoc IProvenanceRegistry
    function transferBatch(bytes32[] calldata itemIds, address to) external {
        _requireBatchSize(itemIds.length);
        address sender = _msgSender();
        for (uint256 i; i < itemIds.length; ++i) {
            _transfer(itemIds[i], to, sender);
        }
    }

    /// @inheritdoc IProvenanceRegistry
    function ship(bytes32 itemId, address to) external {
        _ship(itemId, to, _msgSender());
    }

    /// @inheritdoc IProvenanceRegistry
    function shipBatch(bytes32[] calldata itemIds, address to) external {
        _requireBatchSize(itemIds.length);
        address sender = _msgSender();
        for (uint256 i; i < itemIds.length; ++i) {
            _ship(itemIds[i], to, sender);
        }
    }

    /// @inheritdoc IProvenanceRegistry
    function acceptDelivery(bytes32 itemId) external {
        _receive(itemId, _msgSender());
    }

    /// @inheritdoc IProvenanceRegistry
    function acceptDeliveryBatch(bytes32[] calldata itemIds) external {
        _requireBatchSize(itemIds.length);
        address sender = _msgSender();
        for (uint256 i; i < itemIds.length; ++i) {
            _receive(itemIds[i], sender);
        }
    }

    /// @inheritdoc IProvenanceRegistry
    function cancelShipment(bytes32 itemId) external {
        address sender = _msgSender();
        ItemRecord item = _live(itemId);
        Status status = item.status();
        address shipper = _custodianOf(itemId, item);
        if (shipper != sender) revert NotCustodian(itemId, shipper, sender);
        if (status != Status.InTransit) revert WrongStatus(itemId, status, Status.InTransit);
        _requireUnfrozen(itemId, item);
        uint24 seq = _commit(itemId, item.withHolder(shipper).withStatus(Status.Active));
        emit ShipmentCancelled(itemId, sender, seq);
    }

    // ───────────────────────────── status ─────────────────────────────

    /// @inheritdoc IProvenanceRegistry
    function recall(bytes32[] calldata itemIds) external {
        _requireBatchSize(itemIds.length);
        address sender = _msgSender();
        for (uint256 i; i < itemIds.length; ++i) {
            bytes32 itemId = itemIds[i];
            ItemRecord item = _brandAction(itemId, sender);
            if (item.flags() & FLAG_RECALLED != 0) revert RecalledItem(itemId);
            uint24 seq = _commit(itemId, item.withFlags(item.flags() | FLAG_RECALLED));
            emit ItemRecalled(itemId, sender, seq);
        }
    }

    /// @inheritdoc IProvenanceRegistry
    function liftRecall(bytes32[] calldata itemIds) external {
        _requireBatchSize(itemIds.length);
        address sender = _msgSender();
        for (uint256 i; i < itemIds.length; ++i) {
            bytes32 itemId = itemIds[i];
            ItemRecord item = _brandAction(itemId, sender);
            if (item.flags() & FLAG_RECALLED == 0) revert NotRecalled(itemId);
            uint24 seq = _commit(itemId, item.withFlags(item.flags() & ~FLAG_RECALLED));
            emit RecallLifted(itemId, sender, seq);
        }
    }

    /// @inheritdoc IProvenanceRegistry
    function reportStolen(bytes32 itemId) external {
        address sender = _msgSender();
        ItemRecord item = _custodianAction(itemId, sender);
        if (item.flags() & FLAG_STOLEN != 0) revert StolenItem(itemId);
        uint24 seq = _commit(itemId, item.withFlags(item.flags() | FLAG_STOLEN));
        emit ItemReportedStolen(itemId, sender, seq);
    }

    /// @inheritdoc IProvenanceRegistry
    function clearStolen(bytes32 itemId) external {
        address sender = _msgSender();
        ItemRecord item = _custodianAction(itemId, sender);
        if (item.flags() & FLAG_STOLEN == 0) revert NotStolen(itemId);
        uint24 seq = _commit(itemId, item.withFlags(item.flags() & ~FLAG_STOLEN));
        emit StolenReportCleared(itemId, sender, seq);
    }

    /// @inheritdoc IProvenanceRegistry
    function recordRetailSale(bytes32 itemId) external {
        _recordRetailSale(itemId, _msgSender());
    }

    /// @inheritdoc IProvenanceRegistry
    function decommission(bytes32 itemId) external {
        _decommission(itemId, _msgSender());
    }

    /// @inheritdoc IProvenanceRegistry
    function destroy(bytes32 itemId) external {
        _destroy(itemId, _msgSender());
    }

    // ───────────────────────────── EPCIS ──────────────────────────────

    /// @inheritdoc IProvenanceRegistry
    function applyEpcisEvent(bytes32 itemId, EpcisStep step, address party, bytes32 eventHash) external {
        address sender = _msgSender();
        if (party != address(0) && step != EpcisStep.Commissioning && step != EpcisStep.Shipping) {
            revert UnexpectedParty(step, party);
        }
        uint24 seq;
        if (step == EpcisStep.Commissioning) seq = _register(itemId, bytes32(0), party, sender);
        else if (step == EpcisStep.Shipping) seq = _ship(itemId, party, sender);
        else if (step == EpcisStep.Receiving) seq = _receive(itemId, sender);
        else if (step == EpcisStep.RetailSelling) seq = _recordRetailSale(itemId, sender);
        else if (step == EpcisStep.Decommissioning) seq = _decommission(itemId, sender);
        else seq = _destroy(itemId, sender);
        emit EpcisEventRecorded(itemId, seq, eventHash);
    }

    // ─────────────────────────── aggregation ──────────────────────────

    /// @inheritdoc IProvenanceRegistry
    function pack(bytes32 containerId, bytes32[] calldata itemIds) external {
        _requireBatchSize(itemIds.length);
        address sender = _msgSender();
        ItemRecord box = _items[containerId];
        if (box.status() == Status.None) {
            _items[containerId] = ItemRecordLibrary.create(sender, _now(), 0).withFlags(FLAG_CONTAINER);
            emit ContainerCreated(containerId, sender);
        } else {
            if (box.flags() & FLAG_CONTAINER == 0) revert NotAContainer(containerId);
            _movable(containerId, Status.Active, sender);
        }
        uint256 nested = 0;
        for (uint256 i; i < itemIds.length; ++i) {
            bytes32 itemId = itemIds[i];
            if (itemId == containerId) revert NestingTooDeep(itemId);
            ItemRecord item = _movable(itemId, Status.Active, sender);
            if (item.flags() & FLAG_CONTAINER != 0) {
                if (_nestedContainers[itemId] != 0) revert NestingTooDeep(itemId);
                // Cannot overflow: at most MAX_BATCH_SIZE per call.
                unchecked {
                    ++nested;
                }
            }
            _parents[itemId] = containerId;
            uint24 seq = _commit(itemId, item.withFlags(item.flags() | FLAG_PACKED));
            emit ItemPacked(itemId, containerId, seq);
        }
        if (nested != 0) _nestedContainers[containerId] += nested;
    }

    /// @inheritdoc IProvenanceRegistry
    function unpack(bytes32 containerId, bytes32[] calldata itemIds) external {
        _requireBatchSize(itemIds.length);
        address sender = _msgSender();
        if (_movable(containerId, Status.Active, sender).flags() & FLAG_CONTAINER == 0) {
            revert NotAContainer(containerId);
        }
        uint256 nested = 0;
        for (uint256 i; i < itemIds.length; ++i) {
            bytes32 itemId = itemIds[i];
            if (_parents[itemId] != containerId) revert NotInContainer(itemId, containerId);
            delete _parents[itemId];
            ItemRecord item = _items[itemId];
            if (item.flags() & FLAG_CONTAINER != 0) {
                // Cannot overflow: at most MAX_BATCH_SIZE per call.
                unchecked {
                    ++nested;
                }
            }
            // The item was Active when packed and nothing changes its status while packed.
            uint24 seq = _commit(itemId, item.withHolder(sender).withFlags(item.flags() & ~FLAG_PACKED));
            emit ItemUnpacked(itemId, containerId, sender, seq);
        }
        // Cannot underflow: each of these containers was counted when it was packed here.
        if (nested != 0) _nestedContainers[containerId] -= nested;
    }

    // ───────────────────────────── claim ──────────────────────────────

    /// @inheritdoc IProvenanceRegistry
    function claim(bytes32 itemId, address newOwner, bytes calldata signature) external {
        if (newOwner == address(0)) revert ZeroAddress();
        ItemRecord item = _live(itemId);
        Status status = item.status();
        if (status != Status.Sold) revert WrongStatus(itemId, status, Status.Sold);
        _requireUnfrozen(itemId, item);
        address claimKey = _claimKeys[itemId];
        if (claimKey == address(0)) revert NoClaimKey(itemId);
        // The digest binds item, new owner, chain id and this contract (EIP-712 domain);
        // deleting the key below makes the signature single-use.
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(claimDigest(itemId, newOwner), signature);
        if (err != ECDSA.RecoverError.NoError || signer != claimKey) {
            revert InvalidClaimSignature(itemId, signer);
        }
        delete _claimKeys[itemId];
        item = item.withHolder(newOwner).withStatus(Status.Active).withFlags(item.flags() | FLAG_CLAIMED);
        uint24 seq = _commit(itemId, item);
        emit ItemClaimed(itemId, newOwner, seq);
    }

    // ───────────────────────────── views ──────────────────────────────

    /// @inheritdoc IProvenanceRegistry
    function getItem(bytes32 itemId) external view returns (ItemView memory view_) {
        ItemRecord item = _items[itemId];
        Status status = item.status();
        if (status == Status.None) return view_;
        address operator = _operatorAccounts[item.operatorId()];
        Operator memory op = _operators[operator];
        // Aggregation: a packed item moves with its top container (at most two levels up).
        (bytes32 topId, ItemRecord top, uint8 inherited) = _top(itemId, item);
        status = top.status();
        view_ = ItemView({
            custodian: _custodianOf(topId, top),
            status: status,
            flags: item.flags() | inherited,
            seq: item.seq(),
            registeredAt: item.registeredAt(),
            brandId: op.brandId,
            operator: operator,
            consignee: status == Status.InTransit ? top.holder() : address(0),
            claimable: status == Status.Sold && _claimKeys[itemId] != address(0),
            registeredWhileSuspended: _registeredWhileSuspended(
                item.registeredAt(), op.suspendedFrom, _pastOperatorSuspensions[operator]
            ) || _registeredWhileSuspended(
                item.registeredAt(), _brands[op.brandId].suspendedFrom, _pastBrandSuspensions[op.brandId]
            ),
            container: item.flags() & FLAG_PACKED != 0 ? _parents[itemId] : bytes32(0)
        });
    }

    /// @inheritdoc IProvenanceRegistry
    function getBrand(uint32 brandId) external view returns (address admin, uint40 suspendedFrom) {
        Brand memory brand = _brands[brandId];
        return (brand.admin, brand.suspendedFrom);
    }

    /// @inheritdoc IProvenanceRegistry
    function brandCount() external view returns (uint32) {
        return _brandCount;
    }

    /// @inheritdoc IProvenanceRegistry
    function brandOfPrefix(string calldata prefix) external view returns (uint32) {
        return _prefixOwners[keccak256(bytes(prefix))];
    }

    /// @inheritdoc IProvenanceRegistry
    function getOperator(address operator)
        external
        view
        returns (uint32 brandId, uint24 operatorId, bool active, uint40 suspendedFrom)
    {
        Operator memory op = _operators[operator];
        return (op.brandId, op.operatorId, op.active, op.suspendedFrom);
    }

    /// @inheritdoc IProvenanceRegistry
    function isPartner(uint32 brandId, address partner) external view returns (bool) {
        return _partners[brandId][partner];
    }

    /// @inheritdoc IProvenanceRegistry
    function claimDigest(bytes32 itemId, address newOwner) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_CLAIM_TYPEHASH, itemId, newOwner)));
    }

    // ──────────────────────────── internals ───────────────────────────

    /// @dev ERC2771Context's rule (the last 20 bytes of calldata from the trusted forwarder),
    ///      with the cheap caller comparison first: a direct call pays one comparison.
    function _msgSender() internal view override(Context, ERC2771Context) returns (address sender) {
        sender = msg.sender;
        if (sender == trustedForwarder() && msg.data.length >= 20) {
            sender = address(bytes20(msg.data[msg.data.length - 20:]));
        }
    }

    function _msgData() internal view override(Context, ERC2771Context) returns (bytes calldata) {
        return ERC2771Context._msgData();
    }

    function _contextSuffixLength() internal view override(Context, ERC2771Context) returns (uint256) {
        return ERC2771Context._contextSuffixLength();
    }

    function _register(bytes32 itemId, bytes32 docHash, address claimKey, address sender)
        private
        returns (uint24 seq)
    {
        (uint32 brandId, uint24 operatorId) = _requireActiveOperator(sender);
        _registerItem(itemId, ItemRecordLibrary.create(sender, _now(), operatorId));
        if (claimKey != address(0)) _claimKeys[itemId] = claimKey;
        emit ItemRegistered(itemId, brandId, sender, docHash);
        return 1;
    }

    function _registerItem(bytes32 itemId, ItemRecord fresh) private {
        if (ItemRecord.unwrap(_items[itemId]) != 0) revert ItemAlreadyRegistered(itemId);
        _items[itemId] = fresh;
    }

    function _startBatch(bytes32[] calldata itemIds, bytes32 docHash)
        private
        returns (bytes32 batchId, ItemRecord fresh)
    {
        _requireBatchSize(itemIds.length);
        address sender = _msgSender();
        (uint32 brandId, uint24 operatorId) = _requireActiveOperator(sender);
        batchId = itemIds[0];
        fresh = ItemRecordLibrary.create(sender, _now(), operatorId);
        emit BatchRegistered(batchId, brandId, sender, docHash, itemIds.length);
    }

    function _transfer(bytes32 itemId, address to, address sender) private {
        ItemRecord item = _movable(itemId, Status.Active, sender);
        _requireRecipient(itemId, to, sender);
        uint24 seq = _commit(itemId, item.withHolder(to));
        emit CustodyTransferred(itemId, sender, to, seq);
    }

    /// @dev While in transit the record's holder is the consignee, so receipt reads and
    ///      writes one slot; the shipper, still the custodian, waits in `_shippers`.
    function _ship(bytes32 itemId, address to, address sender) private returns (uint24 seq) {
        ItemRecord item = _movable(itemId, Status.Active, sender);
        _requireRecipient(itemId, to, sender);
        _shippers[itemId] = sender;
        seq = _commit(itemId, item.withHolder(to).withStatus(Status.InTransit));
        emit ItemShipped(itemId, sender, to, seq);
    }

    function _receive(bytes32 itemId, address sender) private returns (uint24 seq) {
        ItemRecord item = _items[itemId];
        if (item.status() != Status.InTransit || item.holder() != sender || item.flags() & _FROZEN != 0) {
            item = _live(itemId);
            Status status = item.status();
            if (status != Status.InTransit) revert WrongStatus(itemId, status, Status.InTransit);
            if (item.holder() != sender) revert NotConsignee(itemId, item.holder(), sender);
            _requireUnfrozen(itemId, item);
        }
        seq = _commit(itemId, item.withStatus(Status.Active));
        emit ItemReceived(itemId, sender, seq);
    }

    function _recordRetailSale(bytes32 itemId, address sender) private returns (uint24 seq) {
        ItemRecord item = _movable(itemId, Status.Active, sender);
        _requireNotContainer(itemId, item);
        seq = _commit(itemId, item.withStatus(Status.Sold));
        emit RetailSaleRecorded(itemId, sender, seq);
    }

    function _decommission(bytes32 itemId, address sender) private returns (uint24 seq) {
        seq = _commit(itemId, _retirable(itemId, sender).withStatus(Status.Decommissioned));
        emit ItemDecommissioned(itemId, sender, seq);
    }

    function _destroy(bytes32 itemId, address sender) private returns (uint24 seq) {
        seq = _commit(itemId, _retirable(itemId, sender).withStatus(Status.Destroyed));
        emit ItemDestroyed(itemId, sender, seq);
    }

    /// @dev An item the caller holds, in `required` state, not frozen. The happy path costs
    ///      one storage read; the checks in order only run to name what is wrong.
    function _movable(bytes32 itemId, Status required, address sender) private view returns (ItemRecord item) {
        item = _items[itemId];
        if (item.status() != required || item.holder() != sender || item.flags() & _STUCK != 0) {
            item = _custodianAction(itemId, sender);
            Status status = item.status();
            if (status != required) revert WrongStatus(itemId, status, required);
            _requireUnfrozen(itemId, item);
        }
    }

    /// @dev A live (not retired) item whose custodian is the caller.
    function _custodianAction(bytes32 itemId, address sender) private view returns (ItemRecord item) {
        item = _live(itemId);
        _requireUnpacked(itemId, item);
        address custodian = _custodianOf(itemId, item);
        if (custodian != sender) revert NotCustodian(itemId, custodian, sender);
    }

    /// @dev A live item of a brand the caller acts for (its admin or an active operator).
    function _brandAction(bytes32 itemId, address sender) private view returns (ItemRecord item) {
        item = _live(itemId);
        _requireNotContainer(itemId, item);
        _requireBrandAuthority(_brandOf(item), sender);
    }

    /// @dev End of life: the custodian or the brand may retire an item that is not in transit.
    function _retirable(bytes32 itemId, address sender) private view returns (ItemRecord item) {
        item = _live(itemId);
        _requireNotContainer(itemId, item);
        _requireUnpacked(itemId, item);
        if (_custodianOf(itemId, item) != sender) _requireBrandAuthority(_brandOf(item), sender);
        Status status = item.status();
        if (status == Status.InTransit) revert WrongStatus(itemId, status, Status.Active);
    }

    function _live(bytes32 itemId) private view returns (ItemRecord item) {
        item = _items[itemId];
        Status status = item.status();
        if (status == Status.None) revert UnknownItem(itemId);
        if (status == Status.Decommissioned || status == Status.Destroyed) revert ItemRetired(itemId, status);
    }

    /// @dev The custodian: the shipper while in transit, else the record's holder.
    function _custodianOf(bytes32 itemId, ItemRecord item) private view returns (address) {
        return item.status() == Status.InTransit ? _shippers[itemId] : item.holder();
    }

    function _brandOf(ItemRecord item) private view returns (uint32) {
        return _operators[_operatorAccounts[item.operatorId()]].brandId;
    }

    /// @dev Stores `item` with its sequence number bumped; returns the new number.
    function _commit(bytes32 itemId, ItemRecord item) private returns (uint24 seq) {
        (item, seq) = item.next();
        _items[itemId] = item;
    }

    function _requireUnfrozen(bytes32 itemId, ItemRecord item) private pure {
        uint8 flags = item.flags();
        if (flags & FLAG_RECALLED != 0) revert RecalledItem(itemId);
        if (flags & FLAG_STOLEN != 0) revert StolenItem(itemId);
    }

    function _requireUnpacked(bytes32 itemId, ItemRecord item) private view {
        if (item.flags() & FLAG_PACKED != 0) revert PackedItem(itemId, _parents[itemId]);
    }

    function _requireNotContainer(bytes32 itemId, ItemRecord item) private pure {
        if (item.flags() & FLAG_CONTAINER != 0) revert IsContainer(itemId);
    }

    /// @dev Aggregation: the top container of a record (the record itself when not packed),
    ///      and the STOLEN flags of the containers above it. Bounded: the nesting rule keeps
    ///      at most two containers above any record.
    function _top(bytes32 itemId, ItemRecord item)
        private
        view
        returns (bytes32 topId, ItemRecord top, uint8 inherited)
    {
        (topId, top) = (itemId, item);
        while (top.flags() & FLAG_PACKED != 0) {
            topId = _parents[topId];
            top = _items[topId];
            inherited |= top.flags() & FLAG_STOLEN;
        }
    }

    function _requireRecipient(bytes32 itemId, address to, address sender) private pure {
        if (to == address(0)) revert ZeroAddress();
        if (to == sender) revert SelfTransfer(itemId, to);
    }

    function _requireActiveOperator(address sender) private view returns (uint32 brandId, uint24 operatorId) {
        Operator memory op = _operators[sender];
        if (!op.active) revert NotOperator(sender);
        if (_suspendedAt(op.suspendedFrom, block.timestamp)) {
            revert OperatorIsSuspended(sender, op.suspendedFrom);
        }
        uint40 brandSuspendedFrom = _brands[op.brandId].suspendedFrom;
        if (_suspendedAt(brandSuspendedFrom, block.timestamp)) {
            revert BrandIsSuspended(op.brandId, brandSuspendedFrom);
        }
        return (op.brandId, op.operatorId);
    }

    function _requireBrandAuthority(uint32 brandId, address sender) private view {
        if (sender == _brands[brandId].admin) return;
        Operator memory op = _operators[sender];
        if (op.brandId != brandId || !op.active) revert NotBrandAuthority(brandId, sender);
        // A suspended (possibly stolen) operator key loses the brand's rights at once, not
        // only once it is removed: recall, lift and retire are as final as registering.
        if (_suspendedAt(op.suspendedFrom, block.timestamp)) {
            revert OperatorIsSuspended(sender, op.suspendedFrom);
        }
    }

    function _requireBrandAdmin(uint32 brandId, address sender) private view {
        if (_requireBrand(brandId).admin != sender) revert NotBrandAdmin(brandId, sender);
    }

    /// @dev The registry admin or the operator's own brand admin may suspend it.
    function _requireOperatorGovernor(address operator) private view returns (uint32 brandId) {
        brandId = _operators[operator].brandId;
        if (brandId == 0) revert NotOperator(operator);
        address sender = _msgSender();
        if (sender != owner() && sender != _brands[brandId].admin) {
            revert NotBrandAdmin(brandId, sender);
        }
    }

    function _requireBrand(uint32 brandId) private view returns (Brand storage brand) {
        brand = _brands[brandId];
        if (brand.admin == address(0)) revert UnknownBrand(brandId);
    }

    function _requireBatchSize(uint256 size) private pure {
        if (size == 0 || size > MAX_BATCH_SIZE) revert BatchSize(size, MAX_BATCH_SIZE);
    }

    function _assignPrefix(uint32 brandId, string calldata prefix) private {
        bytes calldata digits = bytes(prefix);
        if (digits.length < 4 || digits.length > 12) revert InvalidPrefix(prefix);
        for (uint256 i; i < digits.length; ++i) {
            if (digits[i] < "0" || digits[i] > "9") revert InvalidPrefix(prefix);
        }
        bytes32 key = keccak256(digits);
        uint32 owner_ = _prefixOwners[key];
        if (owner_ == 0) owner_ = _prefixCovered[key];
        if (owner_ != 0) revert PrefixConflict(prefix, owner_);
        for (uint256 len = 4; len < digits.length; ++len) {
            bytes32 shorter = keccak256(digits[:len]);
            owner_ = _prefixOwners[shorter];
            if (owner_ != 0) revert PrefixConflict(prefix, owner_);
            _prefixCovered[shorter] = brandId;
        }
        _prefixOwners[key] = brandId;
        emit PrefixAssigned(brandId, prefix);
    }

    function _now() private view returns (uint32) {
        return uint32(block.timestamp); // seconds; fits until 2106
    }

    /// @dev A suspension can be moved back in time but never shortened, except by the
    ///      registry admin's reinstatement: a compromised brand admin cannot unflag items.
    function _earliest(uint40 current, uint40 since) private pure returns (uint40) {
        if (since == 0) revert InvalidSuspensionTime();
        return current != 0 && current < since ? current : since;
    }

    /// @dev Keeps the window a suspension covered, if it had started, before it is lifted.
    function _archiveSuspension(uint40 from, Window[] storage past) private {
        uint40 until = uint40(block.timestamp);
        if (from != 0 && from < until) past.push(Window(from, until));
    }

    function _registeredWhileSuspended(uint32 registeredAt, uint40 current, Window[] storage past)
        private
        view
        returns (bool)
    {
        if (_suspendedAt(current, registeredAt)) return true;
        for (uint256 i; i < past.length; ++i) {
            if (registeredAt >= past[i].from && registeredAt < past[i].until) return true;
        }
        return false;
    }

    function _suspendedAt(uint40 suspendedFrom, uint256 time) private pure returns (bool) {
        return suspendedFrom != 0 && time >= suspendedFrom;
    }
}
