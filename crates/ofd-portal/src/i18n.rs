//! Russian (the default) and English. Every text a page shows is a [`M`] variant, so a missing
//! translation is a compile error, not a blank on a page.

/// The portal's languages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Ru,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first of `ru` / `en` in an `Accept-Language` header, by preference order.
    pub fn from_accept_language(h: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for part in h.split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("").trim();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(l) = Lang::parse(primary)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map(|(_, l)| l)
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ru => "ru",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Ru => Lang::En,
            Lang::En => Lang::Ru,
        }
    }

    /// The language's own name (for the switch).
    pub fn name(self) -> &'static str {
        match self {
            Lang::Ru => "Русский",
            Lang::En => "English",
        }
    }
}

macro_rules! messages {
    ($($key:ident => $ru:literal, $en:literal;)*) => {
        /// A text of the portal.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum M { $($key),* }

        impl Lang {
            /// The text in this language.
            pub fn t(self, m: M) -> &'static str {
                match (self, m) {
                    $((Lang::Ru, M::$key) => $ru, (Lang::En, M::$key) => $en,)*
                }
            }
        }
    };
}

messages! {
    Brand => "ОФД", "OFD";
    SkipToContent => "К содержимому", "Skip to content";
    Navigation => "Разделы", "Sections";
    Monitoring => "Мониторинг", "Monitoring";
    Registers => "Кассы", "Cash registers";
    Register => "Касса", "Cash register";
    NewRegister => "Новая касса", "New cash register";
    Organisation => "Организация", "Organisation";
    SignIn => "Войти", "Sign in";
    SignInTitle => "Вход в личный кабинет", "Sign in to your account";
    SignOut => "Выйти", "Sign out";
    Email => "Электронная почта", "E-mail";
    Password => "Пароль", "Password";
    TotpCode => "Код из приложения-аутентификатора", "Authenticator app code";
    HaveTotp => "У меня включена двухфакторная защита", "I use two-factor authentication";
    ForgotPassword => "Забыли пароль?", "Forgot your password?";
    ForgotHelp => "Укажите адрес электронной почты: если такой пользователь есть, мы пришлём ссылку для нового пароля.", "Enter your e-mail: if such a user exists, we will send a link to set a new password.";
    SendLink => "Прислать ссылку", "Send the link";
    LinkSentIfExists => "Если такой пользователь есть, ссылка отправлена на его почту.", "If such a user exists, a link has been sent to their e-mail.";
    Required => "Обязательное поле", "Required";
    TooLong => "Слишком длинно (не больше 256 символов)", "Too long (256 characters at most)";
    Throttled => "Слишком много попыток входа. Повторите через", "Too many sign-in attempts. Try again in";
    Locked => "Учётная запись заблокирована после неудачных попыток входа. Обратитесь к администратору организации.", "This account is locked after failed sign-ins. Ask your organisation's administrator to unlock it.";
    LockedShort => "заблокирован", "locked";
    BadCredentials => "Неверная почта или пароль", "Wrong e-mail or password";
    TotpRequired => "Введите код из приложения-аутентификатора", "Enter the code from your authenticator app";
    BadTotp => "Неверный код", "Wrong code";
    SetPasswordTitle => "Установка пароля", "Set your password";
    PasswordRules => "Не меньше 10 символов; не содержит адрес почты.", "At least 10 characters, not containing your e-mail address.";
    NewPassword => "Новый пароль", "New password";
    RepeatPassword => "Повторите пароль", "Repeat the password";
    SetPassword => "Сохранить пароль", "Save the password";
    PasswordsDiffer => "Пароли не совпадают", "The passwords differ";
    PasswordSet => "Пароль сохранён. Теперь можно войти.", "Your password is saved. You can sign in now.";
    LinkGone => "Ссылка недействительна, уже использована или устарела. Запросите новую.", "This link is unknown, already used or expired. Ask for a new one.";
    WeakPassword => "Пароль слишком простой", "The password is too weak";
    Online => "на связи", "online";
    Late => "нет данных больше суток", "silent over a day";
    Silent => "нет связи", "silent";
    NoData => "нет данных", "no data";
    Counts => "Кассы по состоянию", "Registers by state";
    FnTrouble => "Фискальный накопитель", "Fiscal drive";
    KeyExpiry30 => "ключ истекает в течение 30 дней", "key expires within 30 days";
    KeyExpiry3 => "ключ истекает в течение 3 дней", "key expires within 3 days";
    Untransmitted => "непереданные документы", "untransmitted documents";
    MemoryFull => "память почти заполнена", "memory nearly full";
    AckOverdue => "просрочено подтверждение ОФД", "OFD acknowledgement overdue";
    NoPlace => "Без места установки", "No point of sale";
    MoreInList => "Показаны не все кассы: остальные в списке касс", "Not every register is shown: see the register list";
    NothingFound => "Ничего не найдено", "Nothing found";
    State => "Состояние", "State";
    Status => "Статус", "Status";
    StatusRegistered => "зарегистрирована", "registered";
    StatusSaved => "черновик", "saved (draft)";
    StatusDeregistered => "снята с учёта", "deregistered";
    Connection => "Подключение", "Connection";
    ConnSim => "SIM-карта", "SIM";
    ConnWired => "проводное", "wired";
    Any => "любой", "any";
    Search => "Найти", "Search";
    Name => "Наименование", "Name";
    Rn => "Регистрационный номер ККТ", "KKT registration number";
    RnOrId => "РНМ / системный номер", "RN / system ID";
    Serial => "Заводской номер ККТ", "KKT serial number";
    FnNumber => "Номер ФН", "FN number";
    FnNumberOptional => "Номер ФН (если уже установлен)", "FN number (if already installed)";
    Inn => "ИНН", "INN";
    Address => "Адрес", "Address";
    Place => "Место установки", "Point of sale";
    Places => "Места установки", "Points of sale";
    PlacesOptional => "Только места установки (через запятую; пусто — все)", "Only these points of sale (comma-separated; empty: all)";
    AllPlaces => "все", "all";
    Tariff => "Тариф", "Tariff";
    Country => "Страна", "Country";
    RegisteredAt => "Дата регистрации", "Registered";
    RegisteredFrom => "Зарегистрирована с", "Registered from";
    RegisteredTo => "по", "to";
    LastDocument => "Последний документ", "Last document";
    Shift => "Смена", "Shift";
    ShiftOpen => "открыта, №", "open, no.";
    ShiftClosed => "закрыта", "closed";
    NextTicket => "Номер следующего чека", "Next ticket number";
    DocsToday => "Документов за день", "Documents today";
    DownloadCsv => "Скачать CSV", "Download CSV";
    You => "это вы", "you";
    Enable => "Включить", "Enable";
    Disable => "Отключить", "Disable";
    Unlock => "Разблокировать", "Unlock";
    BadRole => "Эта роль не подходит для организации", "This role does not fit the organisation";
    NotYourself => "Нельзя отключить себя или сменить свою роль; это может сделать другой администратор", "You cannot disable yourself or change your own role; another admin can";
    AuditLog => "Журнал действий", "Audit log";
    Partners => "Партнёры (сервисные организации)", "Service partners";
    Clients => "Клиенты", "Clients";
    TaxpayerInn => "ИНН / БИН клиента", "Client's INN / BIN";
    PartnerInn => "ИНН / БИН партнёра", "Partner's INN / BIN";
    RequestLink => "Запросить связь", "Request a link";
    LinkRequested => "запрошена", "requested";
    LinkActive => "действует", "active";
    LinkDeclined => "отклонена", "declined";
    LinkEnded => "прекращена", "ended";
    Taxpayer => "Налогоплательщик", "Taxpayer";
    Partner => "Партнёр", "Partner";
    Operator => "Оператор", "Operator";
    RequestedBy => "Кто запросил", "Requested by";
    UpdatedAt => "Изменено", "Updated";
    Accept => "Принять", "Accept";
    Decline => "Отклонить", "Decline";
    Withdraw => "Отозвать", "Withdraw";
    EndLink => "Прекратить", "End";
    NoSuchOrg => "Организация с таким ИНН / БИН не найдена среди подходящих", "No suitable organisation with this INN / BIN";
    LinkExists => "Связь уже действует", "The link is already active";
    Actor => "Кто", "Who";
    Action => "Действие", "Action";
    DateFrom => "С даты", "From";
    DateTo => "По дату", "To";
    Older => "Более ранние записи", "Older entries";
    When => "Когда", "When";
    Target => "Объект", "Object";
    Organisations => "Организации", "Organisations";
    Details => "Подробности", "Details";
    PartnerLinks => "Связи с партнёрами", "Partner links";
    Kind => "Вид", "Kind";
    NewOrganisation => "Новая организация", "New organisation";
    InnOrBin => "ИНН / ИИН / БИН", "INN / IIN / BIN";
    Create => "Создать", "Create";
    BadInnOrBin => "Не ИНН (10 или 12 цифр с верными контрольными) и не ИИН/БИН (12 цифр)", "Neither an INN (10 or 12 digits with valid check digits) nor an IIN/BIN (12 digits)";
    OrgExists => "Организация с этим номером уже есть", "An organisation with this number already exists";
    ShiftSales => "Продажи за смену", "Shift sales";
    ShiftReturns => "Возвраты за смену", "Shift returns";
    DownloadXlsx => "Скачать Excel", "Download Excel";
    FnReplaceSoon => "Замена ФН в течение 30 дней", "Fiscal drive to replace within 30 days";
    Yes => "да", "yes";
    No => "нет", "no";
    NextPage => "Следующая страница", "Next page";
    Transactions => "Транзакции", "Transactions";
    Actions => "Действия", "Actions";
    GetToken => "Получить токен", "Get a token";
    TokenOnce => "Запишите: токен показывается один раз.", "Write it down: the token is shown only once.";
    SystemId => "Системный номер", "System ID";
    Token => "Токен", "Token";
    TokenIssued => "Токен выдан", "Token issued";
    TokenInstruction => "Введите системный номер и токен в настройках ОФД кассы и отправьте документ: касса начнёт передавать документы.", "Type the system ID and the token into the register's OFD settings and send a document: the register starts transmitting.";
    TokenInstructionKz => "Введите системный номер и токен в настройках ККМ (раздел ОФД). Прежний токен больше не действует.", "Type the system ID and the token into the KKM's OFD settings. The previous token no longer works.";
    BackToRegister => "Вернуться к кассе", "Back to the register";
    Deregister => "Снять с учёта", "Take off service";
    DeregisterWarning => "После снятия с учёта ОФД не будет принимать документы этой кассы:", "Once taken off service, the OFD refuses this register's documents:";
    DeregisterConfirm => "Снять с учёта кассу", "Take off service register";
    Cancel => "Отмена", "Cancel";
    FnHistory => "История фискальных накопителей", "Fiscal drive history";
    From => "С", "From";
    To => "По", "To";
    RegisterAction => "Зарегистрировать", "Register";
    SaveDraft => "Сохранить черновик", "Save as draft";
    BadRn => "Регистрационный номер — 16 цифр", "The registration number is 16 digits";
    BadSerial => "Заводской номер — от 1 до 20 латинских букв или цифр", "The serial number is 1 to 20 Latin letters or digits";
    BadInn => "ИНН не проходит проверку контрольных цифр", "The INN fails its check digits";
    RnMismatch => "Регистрационный номер не соответствует ИНН и заводскому номеру", "The registration number does not match the INN and the serial number";
    BadFn => "Номер ФН — 16 цифр", "The FN number is 16 digits";
    InnNotYours => "Вы не можете регистрировать кассы этой организации", "You may not register cash registers for this organisation";
    RnTaken => "Касса с таким номером уже зарегистрирована", "A register with this number is already registered";
    Date => "Дата", "Date";
    Sales => "Приход", "Sales";
    Returns => "Возврат прихода", "Returns";
    DocType => "Документ", "Document";
    Document => "Документ", "Document";
    Time => "Время", "Time";
    Total => "Итог", "Total";
    Outcome => "Результат", "Outcome";
    Accepted => "принят", "accepted";
    Refused => "отклонён", "refused";
    Encrypted => "зашифрован", "encrypted";
    ReceivedAt => "Получен", "Received";
    NotReadable => "Документ зашифрован или не читается: доступен только в исходном виде.", "The document is encrypted or unreadable: only its raw bytes are available.";
    DownloadJson => "Скачать JSON (ФНС)", "Download FNS JSON";
    DownloadRaw => "Скачать исходные байты", "Download raw bytes";
    Item => "Предмет расчёта", "Item";
    Price => "Цена", "Price";
    Qty => "Кол-во", "Qty";
    Sum => "Сумма", "Sum";
    Vat => "НДС", "VAT";
    ReceiptNo => "чек №", "receipt no.";
    PayCash => "Наличными", "Cash";
    PayCard => "Безналичными", "Card";
    PayPrepaid => "Предоплатой", "Prepaid";
    PayCredit => "Постоплатой", "Credit";
    PayOther => "Иной формой оплаты", "Other";
    OpSale => "Приход", "Sale";
    OpSaleReturn => "Возврат прихода", "Sale return";
    OpPurchase => "Расход", "Purchase";
    OpPurchaseReturn => "Возврат расхода", "Purchase return";
    QrCode => "QR-код чека", "The receipt's QR code";
    CheckReceipt => "Проверить чек", "Check a receipt";
    CheckHelp => "Отсканируйте QR-код чека или введите данные с чека.", "Scan the receipt's QR code, or type the values printed on it.";
    CheckDate => "Дата и время (ГГГГММДДTЧЧММ)", "Date and time (YYYYMMDDTHHMM)";
    CheckSum => "Сумма", "Total";
    CheckFd => "Номер ФД", "FD number";
    CheckFp => "ФП (фискальный признак)", "FP (fiscal sign)";
    CheckKind => "Вид операции", "Operation";
    CheckFound => "Чек найден: данные совпадают с полученными ОФД.", "Receipt found: it matches what the OFD received.";
    CheckNotFound => "Чек не найден. Проверьте введённые данные.", "Receipt not found. Check the values you entered.";
    Exchanges => "Обмены с ОФД", "Exchanges with the OFD";
    Command => "Команда", "Command";
    Ticket => "Чек", "Ticket";
    Users => "Пользователи", "Users";
    Role => "Роль", "Role";
    Disabled => "отключён", "disabled";
    Invited => "приглашён", "invited";
    Active => "активен", "active";
    InviteUser => "Пригласить пользователя", "Invite a user";
    Invite => "Пригласить", "Invite";
    BadEmail => "Укажите адрес электронной почты", "Enter an e-mail address";
    LoginTaken => "Пользователь с такой почтой уже есть", "A user with this e-mail already exists";
    InviteMailed => "Приглашение отправлено на", "Invitation mailed to";
    InviteLinkOnce => "Почта не настроена. Передайте пользователю ссылку (показывается один раз):", "No mail server is configured. Give the user this link (shown once):";
    ApiKeys => "Ключи API", "API keys";
    KeyName => "Название ключа", "Key name";
    Access => "Доступ", "Access";
    ReadOnly => "только чтение", "read only";
    ReadWrite => "чтение и изменение", "read and write";
    CreatedAt => "Создан", "Created";
    LastUse => "Последнее использование", "Last use";
    Revoked => "отозван", "revoked";
    Revoke => "Отозвать", "Revoke";
    CreateKey => "Создать ключ", "Create a key";
    KeyOnce => "Ключ показывается один раз:", "The key is shown only once:";
    RequestWired => "Заявка на проводное подключение", "Request a wired connection";
    Requests => "Заявки", "Requests";
    Contact => "Контактное лицо", "Contact person";
    Phone => "Телефон", "Phone";
    Comment => "Комментарий", "Comment";
    SendRequest => "Отправить заявку", "Send the request";
    BadDate => "Укажите дату", "Enter a date";
    DateInPast => "Дата уже прошла", "The date has passed";
    BadTime => "Укажите время (ЧЧ:ММ)", "Enter a time (HH:MM)";
    BadPhone => "Телефон — от 10 до 15 цифр", "A phone number has 10 to 15 digits";
    ReqNew => "новая", "new";
    ReqScheduled => "назначен выезд", "visit scheduled";
    ReqDone => "выполнена", "done";
    ReqCancelled => "отменена", "cancelled";
    StaffNote => "Комментарий оператора", "Operator's note";
    Save => "Сохранить", "Save";
    Notifications => "Уведомления", "Notifications";
    Tariffs => "Тарифы", "Tariffs";
    ShiftReports => "Отчёты о сменах", "Shift reports";
    Opened => "Открыта", "Opened";
    Closed => "Закрыта", "Closed";
    Receipts => "Чеков", "Receipts";
    ShiftOpenNow => "смена открыта", "still open";
    DefineTariff => "Новый или изменённый тариф", "Define or change a tariff";
    Code => "Код", "Code";
    MonthlyPrice => "Цена за кассу в месяц", "Price per register per month";
    BadCode => "Код — от 1 до 32 латинских букв, цифр, - или _", "The code is 1 to 32 Latin letters, digits, - or _";
    BadPrice => "Цена — например, 1500.00", "A price such as 1500.00";
    Statement => "Начисления за месяц", "Monthly statement";
    Month => "Месяц", "Month";
    DaysInService => "Дней в работе", "Days in service";
    Amount => "К оплате", "Amount";
    NotifyEmails => "Адреса почты для уведомлений (через запятую)", "E-mail addresses to notify (comma-separated)";
    WebhookUrl => "Webhook (адрес для POST-запросов)", "Webhook (URL to POST to)";
    WebhookSecret => "Секрет подписи webhook (HMAC-SHA256)", "Webhook signing secret (HMAC-SHA256)";
    SilentDays => "Сообщать, если касса молчит столько дней", "Report a register silent for this many days";
    Events => "События", "Events";
    Delivery => "Доставка", "Delivery";
    BadUrl => "Адрес должен начинаться с http:// или https://", "The URL must start with http:// or https://";
    SecretTooShort => "Секрет — не меньше 16 символов", "The secret needs at least 16 characters";
    BadSilentDays => "От 1 до 29 дней", "1 to 29 days";
    CheckRu => "Россия (чек ККТ)", "Russia (KKT receipt)";
    CheckKz => "Казахстан (чек ККМ)", "Kazakhstan (KKM ticket)";
    KzCheckHelp => "Отсканируйте QR-код чека ККМ или введите данные с чека.", "Scan the KKM ticket's QR code, or type the values printed on it.";
    KzFiscalSign => "Фискальный признак (номер чека)", "Fiscal sign (ticket number)";
    KzRnm => "Регистрационный номер ККМ (РНМ)", "KKM registration number (RNM)";
    KzCheckTime => "Дата и время (ГГГГММДДTЧЧММСС)", "Date and time (YYYYMMDDTHHMMSS)";
    KzSerial => "Заводской номер ККМ", "KKM serial number";
    IinBin => "ИИН/БИН", "IIN/BIN";
    KzBuy => "Покупка", "Purchase";
    KzBuyReturn => "Возврат покупки", "Purchase return";
    KzSell => "Продажа", "Sale";
    KzSellReturn => "Возврат продажи", "Sale return";
    PayMobile => "Мобильный платёж", "Mobile payment";
    PayTare => "Тара", "Tare";
    Discount => "Скидка", "Discount";
    Markup => "Наценка", "Markup";
    Change => "Сдача", "Change";
    Cashier => "Кассир", "Cashier";
    Storno => "сторно", "cancelled";
    OfflineTicket => "чек автономного режима", "made offline";
    KzZReport => "Z-отчёт ККМ", "The KKM's Z report";
    ZAgrees => "совпадает с чеками", "agrees with the tickets";
    ZDiffers => "расходится с чеками", "differs from the tickets";
    ZNotSent => "не передан", "not sent";
    NextShifts => "Следующие смены", "Next shifts";
    FirstShifts => "К первым сменам", "Back to the first shifts";
    KzReportsHelp => "Смены по журналу обменов ККМ с ОФД: суммы — по принятым чекам смены.", "Shifts from the KKM's exchange log with the OFD: the sums add up the shift's accepted tickets.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_known_language() {
        assert_eq!(Lang::from_accept_language("en-GB,en;q=0.9"), Some(Lang::En));
        assert_eq!(
            Lang::from_accept_language("de-DE, ru;q=0.8, en;q=0.5"),
            Some(Lang::Ru)
        );
        assert_eq!(
            Lang::from_accept_language("en;q=0.4, ru;q=0.9"),
            Some(Lang::Ru)
        );
        assert_eq!(Lang::from_accept_language("de, fr"), None);
        assert_eq!(Lang::Ru.t(M::SignIn), "Войти");
        assert_eq!(Lang::En.t(M::SignIn), "Sign in");
    }
}
