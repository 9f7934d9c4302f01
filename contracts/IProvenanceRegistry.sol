// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Veritag provenance registry
/// @notice The source of truth for brands, items, custody, status and consumer claims.
/// @dev The canonical item key, computed off chain by `ledger.identifiers.item_id`:
///      `itemId = keccak256(utf8("01/" + gtin14 + "/21/" + serial))`
///      (GTIN as 14 digits, serial as GS1 AI 21). GTINs and serials never go on chain.
///
///      Item lifecycle (`Status`) and overlays (`flags`):
///        register → Active ─ship→ InTransit ─acceptDelivery→ Active (consignee holds it)
///                          │               └cancelShipment→ Active (sender keeps it)
///                          ├transfer→ Active (new custodian)
///                          ├recordRetailSale→ Sold ─claim→ Active, flag CLAIMED (owner)
///                          └decommission / destroy → Decommissioned / Destroyed (final)
///      Flags (a bit set): RECALLED = 1 (set by the brand) and STOLEN = 2 (set by the
///      custodian) freeze the item: while either is set it cannot be moved, sold or claimed.
///      CLAIMED = 4 marks an item a consumer has claimed; its custodian is its owner.
///      CONTAINER = 8 marks a case or pallet (see Aggregation below); PACKED = 16 marks a
///      record packed into a container.
///
///      Every state change of an item emits exactly one item event carrying `seq`, the
///      item's on-chain sequence number after the change (registration is 1). An index that
///      holds events 1..seq of an item holds its whole history.
interface IProvenanceRegistry {
    /// @notice Lifecycle state of an item.
    enum Status {
        None,
        Active,
        InTransit,
        Sold,
        Decommissioned,
        Destroyed
    }

    /// @notice The custody steps a captured GS1 EPCIS event may apply (its CBV bizStep).
    enum EpcisStep {
        Commissioning,
        Shipping,
        Receiving,
        RetailSelling,
        Decommissioning,
        Destroying
    }

    /// @notice Everything the registry knows about one item.
    struct ItemView {
        address custodian;
        Status status;
        uint8 flags;
        uint24 seq;
        uint32 registeredAt;
        uint32 brandId;
        address operator;
        address consignee;
        bool claimable;
        bool registeredWhileSuspended;
        /// @dev Aggregation: the container `itemId` is packed in directly, or zero.
        bytes32 container;
    }

    // ───────────────────────────── errors ─────────────────────────────

    /// @notice `brandId` was never admitted.
    error UnknownBrand(uint32 brandId);
    /// @notice `account` is not the admin of `brandId`.
    error NotBrandAdmin(uint32 brandId, address account);
    /// @notice `account` may act neither as the admin nor as an operator of `brandId`.
    error NotBrandAuthority(uint32 brandId, address account);
    /// @notice `brandId` is suspended from `since` (a timestamp, possibly in the past).
    error BrandIsSuspended(uint32 brandId, uint40 since);
    /// @notice A GS1 company prefix must be 4 to 12 ASCII digits.
    error InvalidPrefix(string prefix);
    /// @notice `prefix` is assigned to, or overlaps a prefix of, `ownerBrandId`.
    error PrefixConflict(string prefix, uint32 ownerBrandId);
    /// @notice `account` is not an active operator of any brand.
    error NotOperator(address account);
    /// @notice `operator` already belongs to `brandId`.
    error OperatorAlreadyAssigned(address operator, uint32 brandId);
    /// @notice `operator` is suspended from `since`.
    error OperatorIsSuspended(address operator, uint40 since);
    /// @notice A suspension must start at a non-zero timestamp.
    error InvalidSuspensionTime();
    /// @notice The zero address is not a valid party.
    error ZeroAddress();
    /// @notice `itemId` is already registered.
    error ItemAlreadyRegistered(bytes32 itemId);
    /// @notice `itemId` was never registered.
    error UnknownItem(bytes32 itemId);
    /// @notice Only the custodian may do this; `itemId` is held by `custodian`, not `caller`.
    error NotCustodian(bytes32 itemId, address custodian, address caller);
    /// @notice Only the consignee may receive; `itemId` is shipped to `consignee`, not `caller`.
    error NotConsignee(bytes32 itemId, address consignee, address caller);
    /// @notice `itemId` is in state `actual`; the operation needs `required`.
    error WrongStatus(bytes32 itemId, Status actual, Status required);
    /// @notice `itemId` is already in a final state (`actual`).
    error ItemRetired(bytes32 itemId, Status actual);
    /// @notice `itemId` is recalled and cannot be moved, sold or claimed.
    error RecalledItem(bytes32 itemId);
    /// @notice `itemId` is reported stolen and cannot be moved, sold or claimed.
    error StolenItem(bytes32 itemId);
    /// @notice `itemId` is not recalled, so the recall cannot be lifted.
    error NotRecalled(bytes32 itemId);
    /// @notice `itemId` is not reported stolen, so there is no report to clear.
    error NotStolen(bytes32 itemId);
    /// @notice Custody cannot be handed from `account` to itself.
    error SelfTransfer(bytes32 itemId, address account);
    /// @notice `itemId` has no claim key, so it cannot be claimed.
    error NoClaimKey(bytes32 itemId);
    /// @notice The claim signature for `itemId` was made by `signer`, not by its claim key.
    error InvalidClaimSignature(bytes32 itemId, address signer);
    /// @notice A batch must hold 1 to `max` items; this one holds `size`.
    error BatchSize(uint256 size, uint256 max);
    /// @notice The registry admin role cannot be renounced (only transferred in two steps).
    error RenounceDisabled();
    /// @notice Two arrays that go together have different lengths.
    error LengthMismatch(uint256 expected, uint256 actual);
    /// @notice `step` takes no party, but `party` was given.
    error UnexpectedParty(EpcisStep step, address party);

    // ─────────────────────── errors: aggregation ──────────────────────

    /// @notice `itemId` is packed in `containerId`: it moves with it until it is unpacked.
    error PackedItem(bytes32 itemId, bytes32 containerId);
    /// @notice `itemId` is a container (case or pallet): it has no brand, cannot be sold,
    ///         claimed, recalled or retired.
    error IsContainer(bytes32 itemId);
    /// @notice `containerId` is registered as an item, not as a container.
    error NotAContainer(bytes32 containerId);
    /// @notice `itemId` is not packed in `containerId`.
    error NotInContainer(bytes32 itemId, bytes32 containerId);
    /// @notice Packing container `itemId` would put more than two levels of containers
    ///         above an item (item → case → pallet), or put a container inside itself.
    error NestingTooDeep(bytes32 itemId);

    // ───────────────────────────── events ─────────────────────────────

    /// @notice A brand was admitted by the registry admin.
    event BrandAdmitted(uint32 indexed brandId, address indexed admin, string name);
    /// @notice `prefix` (a GS1 company prefix) now belongs to `brandId`.
    event PrefixAssigned(uint32 indexed brandId, string prefix);
    /// @notice The admin of `brandId` changed.
    event BrandAdminChanged(uint32 indexed brandId, address indexed previousAdmin, address indexed newAdmin);
    /// @notice `brandId` is suspended from `since`; its items registered from then are flagged.
    event BrandSuspended(uint32 indexed brandId, uint40 since);
    /// @notice The suspension of `brandId` was lifted.
    event BrandReinstated(uint32 indexed brandId);
    /// @notice `operator` may now register items for `brandId`.
    event OperatorAdded(uint32 indexed brandId, address indexed operator, uint24 operatorId);
    /// @notice `operator` may no longer register items for `brandId`.
    event OperatorRemoved(uint32 indexed brandId, address indexed operator);
    /// @notice `operator` is suspended from `since`; items it registered from then are flagged.
    event OperatorSuspended(uint32 indexed brandId, address indexed operator, uint40 since);
    /// @notice The suspension of `operator` was lifted.
    event OperatorReinstated(uint32 indexed brandId, address indexed operator);
    /// @notice `partner` is (authorised = true) or is no longer an authorised partner of `brandId`.
    event PartnerSet(uint32 indexed brandId, address indexed partner, bool authorised);

    /// @notice One item was registered with its own product data document (seq 1).
    event ItemRegistered(bytes32 indexed itemId, uint32 indexed brandId, address operator, bytes32 docHash);
    /// @notice A batch was registered; its items share `docHash`. `batchId` is its first item id.
    event BatchRegistered(
        bytes32 indexed batchId, uint32 indexed brandId, address operator, bytes32 docHash, uint256 count
    );
    /// @notice `itemId` was registered as part of `batchId` (seq 1).
    event BatchItemRegistered(bytes32 indexed itemId, bytes32 indexed batchId);
    /// @notice `from` shipped `itemId` to `to`; it is in transit until `to` receives it.
    event ItemShipped(bytes32 indexed itemId, address indexed from, address indexed to, uint24 seq);
    /// @notice The consignee received `itemId` and is now its custodian.
    event ItemReceived(bytes32 indexed itemId, address indexed by, uint24 seq);
    /// @notice The sender cancelled the shipment of `itemId` before receipt and keeps custody.
    event ShipmentCancelled(bytes32 indexed itemId, address indexed by, uint24 seq);
    /// @notice Custody of `itemId` passed from `from` to `to` in one step.
    event CustodyTransferred(bytes32 indexed itemId, address indexed from, address indexed to, uint24 seq);
    /// @notice `retailer` sold `itemId` to a consumer; the consumer claim is armed.
    event RetailSaleRecorded(bytes32 indexed itemId, address indexed retailer, uint24 seq);
    /// @notice The holder of the hidden code claimed `itemId` for `owner`.
    event ItemClaimed(bytes32 indexed itemId, address indexed owner, uint24 seq);
    /// @notice The brand recalled `itemId`.
    event ItemRecalled(bytes32 indexed itemId, address indexed by, uint24 seq);
    /// @notice The brand lifted the recall of `itemId`.
    event RecallLifted(bytes32 indexed itemId, address indexed by, uint24 seq);
    /// @notice The custodian reported `itemId` stolen.
    event ItemReportedStolen(bytes32 indexed itemId, address indexed by, uint24 seq);
    /// @notice The custodian cleared the theft report of `itemId`.
    event StolenReportCleared(bytes32 indexed itemId, address indexed by, uint24 seq);
    /// @notice `itemId` was taken out of service (CBV decommissioning); final.
    event ItemDecommissioned(bytes32 indexed itemId, address indexed by, uint24 seq);
    /// @notice `itemId` was destroyed (CBV destroying); final.
    event ItemDestroyed(bytes32 indexed itemId, address indexed by, uint24 seq);
    /// @notice The item event `seq` of `itemId` was caused by the EPCIS event whose CBV 2.0
    ///         event hash ID is `ni:///sha-256;{eventHash}?ver=CBV2.0`. Emitted right after
    ///         that item event, in the same call.
    event EpcisEventRecorded(bytes32 indexed itemId, uint24 seq, bytes32 eventHash);

    // ─────────────────────── events: aggregation ──────────────────────

    /// @notice `by` opened the container `containerId` by packing into it first; it holds
    ///         it, Active (the container's seq 1, like a registration).
    event ContainerCreated(bytes32 indexed containerId, address indexed by);
    /// @notice `itemId` (an item or a case) was packed into `containerId`.
    event ItemPacked(bytes32 indexed itemId, bytes32 indexed containerId, uint24 seq);
    /// @notice `by`, the custodian of `containerId`, took `itemId` out of it and now holds it.
    event ItemUnpacked(bytes32 indexed itemId, bytes32 indexed containerId, address by, uint24 seq);

    // ─────────────────────────── governance ───────────────────────────

    /// @notice Admit a brand after off-chain KYB. Registry admin only.
    /// @param admin The brand's admin account.
    /// @param name The brand's public name (a company, never a person).
    /// @param prefixes The GS1 company prefixes the brand owns (4–12 digits each).
    /// @return brandId The new brand's id, counting from 1.
    function admitBrand(address admin, string calldata name, string[] calldata prefixes)
        external
        returns (uint32 brandId);

    /// @notice Assign one more GS1 company prefix to `brandId`. Registry admin only.
    function assignPrefix(uint32 brandId, string calldata prefix) external;

    /// @notice Replace the admin of `brandId`. Registry admin or the current brand admin.
    function setBrandAdmin(uint32 brandId, address newAdmin) external;

    /// @notice Suspend `brandId` from `since` (may be in the past). Registry admin only.
    /// @dev Registration is refused from `since` on; items registered at or after `since`
    ///      report `registeredWhileSuspended`, also after a reinstatement. Suspending an
    ///      already suspended brand can move `since` earlier, never later.
    function suspendBrand(uint32 brandId, uint40 since) external;

    /// @notice Lift the suspension of `brandId`; items registered while it held stay flagged.
    ///         Registry admin only.
    function reinstateBrand(uint32 brandId) external;

    /// @notice Suspend `operator` (a compromised key) from `since` (may be in the past).
    ///         Registry admin or its brand admin. `since` can move earlier, never later.
    function suspendOperator(address operator, uint40 since) external;

    /// @notice Lift the suspension of `operator`; items it registered while suspended stay
    ///         flagged. Registry admin only, so a compromised brand admin cannot undo it.
    function reinstateOperator(address operator) external;

    // ─────────────────────────── brand roles ──────────────────────────

    /// @notice Let `operator` (a factory line) register items for `brandId`. Brand admin only.
    /// @dev An account serves one brand for life, so its items' brand never changes.
    function addOperator(uint32 brandId, address operator) external;

    /// @notice Stop `operator` registering items. Brand admin only.
    function removeOperator(address operator) external;

    /// @notice Name or un-name `partner` (distributor, retailer) as authorised for `brandId`.
    function setPartner(uint32 brandId, address partner, bool authorised) external;

    // ─────────────────────────── registration ─────────────────────────

    /// @notice Register one item at manufacture. Active operator of an unsuspended brand only.
    /// @param itemId The canonical item key.
    /// @param docHash keccak256 of the item's product data document.
    /// @param claimKey Address of the one-time key derived from the hidden code, or zero.
    function register(bytes32 itemId, bytes32 docHash, address claimKey) external;

    /// @notice Register a batch of items sharing one product data document, without claim keys.
    function registerBatch(bytes32[] calldata itemIds, bytes32 docHash) external;

    /// @notice Register a batch of items sharing one document, each with its claim key.
    function registerBatchWithClaimKeys(bytes32[] calldata itemIds, bytes32 docHash, address[] calldata claimKeys)
        external;

    // ───────────────────────── Merkle batches ─────────────────────────
    //
    // A brand registers a batch of up to 2^32 - 1 items with one root: the leaves stay off
    // chain, and an item comes on chain (`activateBatchItem`) the first time it is acted on,
    // with its proof, usually in one `multicall` together with that first action.
    // Leaf (OpenZeppelin's standard Merkle tree, double hashed against second preimages):
    //   leaf = keccak256(bytes.concat(keccak256(abi.encode(itemId, claimKey))))
    // with `claimKey` the item's claim key address or zero; pairs are hashed sorted
    // (`MerkleProof`), and an odd node is carried up to the next level unchanged.

    /// @notice `root` was already anchored; a batch root is anchored once.
    error BatchAlreadyAnchored(bytes32 root);
    /// @notice No batch with `root` was anchored.
    error UnknownBatch(bytes32 root);
    /// @notice `proof` does not show that (`itemId`, claim key) is a leaf of batch `root`.
    error InvalidBatchProof(bytes32 itemId, bytes32 root);

    /// @notice `operator` of `brandId` anchored a batch of `count` items with Merkle root
    ///         `root`; its items share `docHash` and count as registered at this block's time.
    event BatchAnchored(bytes32 indexed root, uint32 indexed brandId, address operator, bytes32 docHash, uint32 count);
    /// @notice `itemId`, a leaf of batch `root`, came on chain (seq 1): it is registered as of
    ///         the batch's anchoring, by the batch's operator, who holds it.
    event BatchItemActivated(bytes32 indexed itemId, bytes32 indexed root);

    /// @notice Anchor a batch of `count` items by its Merkle root. Active operator of an
    ///         unsuspended brand only.
    /// @param root The Merkle root of the batch's leaves (see above).
    /// @param count How many leaves the tree holds (1 or more); recorded, not checked.
    /// @param docHash keccak256 of the product data document the batch's items share.
    function anchorBatch(bytes32 root, uint32 count, bytes32 docHash) external;

    /// @notice Bring `itemId`, a leaf of the anchored batch `root`, on chain. Anyone may call:
    ///         the proof is the authority. The item is recorded exactly as if the batch's
    ///         operator had registered it when the batch was anchored (it holds the item,
    ///         Active, seq 1), with `claimKey` as its claim key if non-zero.
    /// @param proof The sibling hashes from the leaf up to the root.
    function activateBatchItem(bytes32 itemId, bytes32 root, address claimKey, bytes32[] calldata proof)
        external;

    /// @notice The batch anchored with `root`; zeros for an unknown root.
    function getBatch(bytes32 root)
        external
        view
        returns (uint32 brandId, address operator, uint32 anchoredAt, uint32 count);

    // ───────────────────────────── custody ────────────────────────────

    /// @notice Hand `itemId` to `to` in one step. Custodian only; item Active and not frozen.
    function transfer(bytes32 itemId, address to) external;

    /// @notice Hand many items to `to` in one step; all or nothing.
    function transferBatch(bytes32[] calldata itemIds, address to) external;

    /// @notice Ship `itemId` to `to`; custody passes when `to` calls `acceptDelivery`.
    function ship(bytes32 itemId, address to) external;

    /// @notice Ship many items to `to`; all or nothing.
    function shipBatch(bytes32[] calldata itemIds, address to) external;

    /// @notice Take custody of a shipped item. Consignee only.
    function acceptDelivery(bytes32 itemId) external;

    /// @notice Take custody of many shipped items; all or nothing.
    function acceptDeliveryBatch(bytes32[] calldata itemIds) external;

    /// @notice Call back a shipment before receipt. Sender (still the custodian) only.
    function cancelShipment(bytes32 itemId) external;

    // ───────────────────────────── status ─────────────────────────────

    /// @notice Recall items. Brand admin or an active operator of each item's brand.
    function recall(bytes32[] calldata itemIds) external;

    /// @notice Lift the recall of items. Brand admin or an active operator of each item's brand.
    function liftRecall(bytes32[] calldata itemIds) external;

    /// @notice Report `itemId` stolen. Custodian (or owner) only.
    function reportStolen(bytes32 itemId) external;

    /// @notice Clear the theft report of `itemId`. Custodian (or owner) only.
    function clearStolen(bytes32 itemId) external;

    /// @notice Record the retail sale of `itemId`, arming the consumer claim. Custodian only.
    function recordRetailSale(bytes32 itemId) external;

    /// @notice Take `itemId` out of service; final. Its custodian or its brand.
    function decommission(bytes32 itemId) external;

    /// @notice Record that `itemId` was destroyed; final. Its custodian or its brand.
    function destroy(bytes32 itemId) external;

    // ───────────────────────────── EPCIS ──────────────────────────────

    /// @notice Apply the custody step of a captured EPCIS event to `itemId` and record the
    ///         event's hash ID beside the item event it causes (`EpcisEventRecorded`).
    /// @dev Each step has exactly the rights, checks and item event of its plain function:
    ///      Commissioning = `register(itemId, 0, party)` (`party` is the claim key, or zero),
    ///      Shipping = `ship(itemId, party)`, Receiving = `acceptDelivery`, RetailSelling =
    ///      `recordRetailSale`, Decommissioning = `decommission`, Destroying = `destroy`.
    ///      `party` must be zero for the steps that take none.
    /// @param eventHash The SHA-256 digest inside the event's CBV 2.0 hash ID; the event
    ///        itself stays off chain, so anyone holding it can check it against this record.
    function applyEpcisEvent(bytes32 itemId, EpcisStep step, address party, bytes32 eventHash) external;

    // ─────────────────────────── aggregation ──────────────────────────

    /// @notice Pack items (or cases) into the container `containerId`, a case or a pallet.
    /// @dev `containerId = keccak256(utf8("00/" + sscc18))` (`ledger.identifiers.container_id`;
    ///      the SSCC stays off chain like GTINs and serials). The first pack creates the
    ///      container as a record of its own (`ContainerCreated`, seq 1): held by the caller,
    ///      Active, flag CONTAINER, no brand. It then ships, is received, cancelled,
    ///      transferred and reported stolen like an item, in O(1) gas whatever it holds; it
    ///      cannot be sold, claimed, recalled or retired (`IsContainer`).
    ///      The caller must be the custodian of the container (Active, not frozen, not
    ///      itself packed) and of every item (Active, not frozen, not packed).
    ///      Nesting: at most two levels of containers above an item (item → case → pallet).
    ///      A container that holds containers cannot be packed, and nothing is packed into
    ///      a packed container (`NestingTooDeep`, `PackedItem`).
    ///      While packed, an item's custodian, status and consignee are those of its top
    ///      container (`getItem`), its own flags OR the STOLEN flag of its containers, and
    ///      every direct action on it by a custodian reverts `PackedItem`.
    ///      Recall: the brand may still recall (and lift the recall of) a packed item; the
    ///      container keeps moving (checking each item would make a move cost grow with the
    ///      content); the item stays frozen once unpacked, so it cannot move on alone.
    ///      Anyone holding an item can open a container under any unused id: a custodian
    ///      could squat an item id it knows before that item is registered. Off-chain users
    ///      only ever derive container ids from SSCCs.
    /// @param containerId The container to pack into (created on first use).
    /// @param itemIds 1 to `MAX_BATCH_SIZE` items or cases; each emits `ItemPacked`.
    function pack(bytes32 containerId, bytes32[] calldata itemIds) external;

    /// @notice Take items (or cases) out of `containerId`; each is then held by the
    ///         container's custodian (`ItemUnpacked`). Frozen (recalled) items may be unpacked.
    /// @dev Custodian of the container only; the container Active (not in transit), not
    ///      frozen and not itself packed: a case inside a pallet is unpacked from the pallet
    ///      first. Reverts `NotInContainer` for an item not directly in `containerId`.
    function unpack(bytes32 containerId, bytes32[] calldata itemIds) external;

    // ───────────────────────────── claim ──────────────────────────────

    /// @notice Claim a sold item for `newOwner` with a signature by its claim key.
    /// @dev The signature is EIP-712 over `Claim(bytes32 itemId,address newOwner)` in this
    ///      contract's domain, so it binds the item, the new owner, the chain id and this
    ///      contract. Anyone may submit it: a watcher who copies it can only make the same
    ///      owner the owner. The claim key is deleted, so a claim works once.
    function claim(bytes32 itemId, address newOwner, bytes calldata signature) external;

    // ───────────────────────────── views ──────────────────────────────

    /// @notice Everything known about `itemId`; `status` is None for an unknown item.
    /// @dev For a packed item, custodian, status and consignee are its top container's.
    function getItem(bytes32 itemId) external view returns (ItemView memory);

    /// @notice Admin and suspension time (0 = not suspended) of `brandId`.
    function getBrand(uint32 brandId) external view returns (address admin, uint40 suspendedFrom);

    /// @notice Number of admitted brands; brand ids run from 1 to this.
    function brandCount() external view returns (uint32);

    /// @notice The brand that owns `prefix` exactly, or 0.
    function brandOfPrefix(string calldata prefix) external view returns (uint32);

    /// @notice Brand, id, whether active, and suspension time (0 = none) of `operator`.
    function getOperator(address operator)
        external
        view
        returns (uint32 brandId, uint24 operatorId, bool active, uint40 suspendedFrom);

    /// @notice Whether `partner` is an authorised partner of `brandId`.
    function isPartner(uint32 brandId, address partner) external view returns (bool);

    /// @notice The EIP-712 digest the claim key signs to claim `itemId` for `newOwner`.
    function claimDigest(bytes32 itemId, address newOwner) external view returns (bytes32);
}
